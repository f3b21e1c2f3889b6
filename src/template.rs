//! `{version}` / `{arch}` / `{tag}` expansion in source templates, and the
//! machine → Go architecture name mapping upstream release assets use.

/// Go's name for this machine's architecture, as release assets spell it.
pub fn host_arch() -> &'static str {
    go_arch(std::env::consts::ARCH)
}

pub fn go_arch(rust_arch: &str) -> &'static str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        // Rust calls every 32-bit ARM "arm"; the exporters publish armv7 for it.
        "arm" => "armv7",
        "x86" => "386",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        _ => "unknown",
    }
}

/// Architecture names the templates accept in `settings.arch`.
pub const KNOWN_ARCHES: &[&str] = &["amd64", "arm64", "armv7", "armv6", "386", "riscv64", "ppc64le", "s390x"];

#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub version: &'a str,
    pub arch: &'a str,
    pub tag: &'a str,
}

/// Expands the placeholders; any other `{…}` is an error naming it.
pub fn expand(template: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{}`", shown(template)))?;
        let value = match &after[..end] {
            "version" => vars.version,
            "arch" => vars.arch,
            "tag" => vars.tag,
            other => {
                return Err(format!(
                    "unknown placeholder `{{{other}}}` in `{}` (known: {{version}}, {{arch}}, {{tag}})",
                    shown(template)
                ))
            }
        };
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A template (often a URL) as an error quotes it: without credentials.
fn shown(template: &str) -> String {
    crate::redact::url_without_password(template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_placeholders_and_rejects_others() {
        let v = Vars {
            version: "1.9.1",
            arch: "arm64",
            tag: "v1.9.1",
        };
        assert_eq!(
            expand("x-{version}.linux-{arch}/{tag}", &v).unwrap(),
            "x-1.9.1.linux-arm64/v1.9.1"
        );
        assert!(expand("{os}", &v).unwrap_err().contains("{os}"));
        assert!(expand("{version", &v).is_err());
    }

    #[test]
    fn maps_rust_arches_to_go_names() {
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("aarch64"), "arm64");
        assert_eq!(go_arch("arm"), "armv7");
    }
}
