#!/usr/bin/env bash
# Builds the Debian package of exporterctl with dpkg-deb (no debhelper, no
# cargo-deb): see docs/packaging.md.
#
#   packaging/build-deb.sh [--binary PATH] [--out-dir DIR] [--lintian]
#
#   --binary PATH   package this release binary instead of running
#                   `cargo build --locked --release`
#   --out-dir DIR   where to write the .deb (default: <target dir>/debian)
#   --lintian       then run lintian on it; fail on any error or warning
#
# Prints the path of the .deb as the last line on stdout. Needs dpkg-dev
# (dpkg-shlibdeps), binutils (strip), gzip and, with --lintian, lintian.
# Environment: CARGO_TARGET_DIR (default ./target), SOURCE_DATE_EPOCH
# (default: the last commit's date), EXPORTERCTL_DEB_MAINTAINER.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PKG=$REPO/packaging
BIN=""
OUT=""
LINTIAN=0
while [ $# -gt 0 ]; do
    case $1 in
        --binary) BIN=${2:?--binary needs a path}; shift 2 ;;
        --out-dir) OUT=${2:?--out-dir needs a directory}; shift 2 ;;
        --lintian) LINTIAN=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

say() { printf 'build-deb: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install dpkg-dev binutils gzip)"
done

cd "$REPO"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$REPO/$TARGET_DIR ;; esac
if [ -z "$BIN" ]; then
    cargo build --locked --release >&2
    BIN=$TARGET_DIR/release/exporterctl
fi
[ -x "$BIN" ] || die "no executable $BIN"
OUT=${OUT:-$TARGET_DIR/debian}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

VERSION=$("$BIN" --version | awk '{print $2}')
[ -n "$VERSION" ] || die "$BIN --version printed no version"
CARGO_VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ "$VERSION" = "$CARGO_VERSION" ] || die "$BIN is version $VERSION but Cargo.toml says $CARGO_VERSION: a stale binary?"
ARCH=$(dpkg --print-architecture)
MAINTAINER=${EXPORTERCTL_DEB_MAINTAINER:-exporterctl maintainers <exporterctl@example.org>}
# Reproducible: every timestamp is the last commit's.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
COMMIT=$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/exporterctl-deb.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root
DOC=$ROOT/usr/share/doc/exporterctl
umask 022
mkdir -p "$ROOT/DEBIAN" "$ROOT/usr/bin" "$ROOT/usr/share/man/man1" "$DOC/examples" \
    "$ROOT/lib/systemd/system" "$ROOT/etc/default" \
    "$ROOT/usr/share/bash-completion/completions" "$ROOT/usr/share/zsh/vendor-completions" \
    "$ROOT/usr/share/fish/vendor_completions.d"

# The binary, stripped as Debian policy asks (no -dbgsym package).
install -m 0755 "$BIN" "$ROOT/usr/bin/exporterctl"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT/usr/bin/exporterctl"

# Man pages and completions come from the binary's own clap definitions.
"$ROOT/usr/bin/exporterctl" man --out-dir "$ROOT/usr/share/man/man1" >/dev/null
gzip -9n "$ROOT"/usr/share/man/man1/*.1
"$ROOT/usr/bin/exporterctl" completions bash >"$ROOT/usr/share/bash-completion/completions/exporterctl"
"$ROOT/usr/bin/exporterctl" completions zsh >"$ROOT/usr/share/zsh/vendor-completions/_exporterctl"
"$ROOT/usr/bin/exporterctl" completions fish >"$ROOT/usr/share/fish/vendor_completions.d/exporterctl.fish"

# systemd units (bookworm's path; /usr/lib/systemd/system from trixie on)
# and their setting.
install -m 0644 "$PKG/exporterctl-gc.service" "$PKG/exporterctl-gc.timer" "$ROOT/lib/systemd/system/"
install -m 0644 "$PKG/default" "$ROOT/etc/default/exporterctl"

# Documentation: larger files compressed, as dh_compress would.
install -m 0644 README.md "$DOC/README.md"
for f in docs/*.md; do install -m 0644 "$f" "$DOC/$(basename "$f")"; done
install -m 0644 manifests/phase1.yaml "$DOC/examples/phase1.yaml"
find "$DOC" -maxdepth 1 -name '*.md' -size +4k -exec gzip -9n {} +
# The crates linked into the binary, with their licences, go into the
# header paragraph's Comment.
{
    sed -n '1,/^$/p' "$PKG/debian/copyright" | sed '$d'
    echo " ."
    echo " Crates linked into /usr/bin/exporterctl (cargo tree -e normal):"
    cargo tree --locked -e normal --prefix none --format '{p}: {l}' 2>/dev/null \
        | grep -v -e '^exporterctl ' -e '(proc-macro)' | sed 's/ (\*)$//' | sort -u | sed 's/^/  /'
    echo
    sed -n '/^$/,$p' "$PKG/debian/copyright" | sed '1d'
} >"$DOC/copyright"
grep -q '^  clap v' "$DOC/copyright" || die "cargo tree listed no crates for the copyright file"
cat >"$WORK/changelog" <<EOF
exporterctl ($VERSION) unstable; urgency=medium

  * Built from the exporterctl repository at commit $COMMIT.
    The project's history is its git log.

 -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n -c "$WORK/changelog" >"$DOC/changelog.gz"

# Maintainer scripts and control files.
install -m 0755 "$PKG/debian/postinst" "$PKG/debian/prerm" "$PKG/debian/postrm" "$ROOT/DEBIAN/"
echo /etc/default/exporterctl >"$ROOT/DEBIAN/conffiles"
mkdir -p "$WORK/shlibs/debian"
printf 'Source: exporterctl\n\nPackage: exporterctl\nArchitecture: any\n' >"$WORK/shlibs/debian/control"
DEPENDS=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O "$ROOT/usr/bin/exporterctl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$DEPENDS" ] || die "dpkg-shlibdeps found no dependencies for the binary"
INSTALLED_SIZE=$(du -k -s --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$MAINTAINER|" \
    -e "s|@INSTALLED_SIZE@|$INSTALLED_SIZE|" -e "s|@DEPENDS@|$DEPENDS|" \
    "$PKG/debian/control" >"$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
    | LC_ALL=C sort -z | xargs -0 md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"

find "$ROOT" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0 touch --no-dereference --date="@$SOURCE_DATE_EPOCH"
DEB=$OUT/exporterctl_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >&2
say "built $DEB"

if [ "$LINTIAN" = 1 ]; then
    command -v lintian >/dev/null || die "lintian not found (apt-get install lintian)"
    # Info tags are shown, not fatal; docs/packaging.md explains each one.
    lintian --fail-on error,warning --display-info "$DEB" >&2
    say "lintian: no errors or warnings"
fi
echo "$DEB"
