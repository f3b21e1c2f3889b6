//! STUB (lead): replaced on merge.
pub struct ExporterOpts {
    pub name: String,
    pub version: String,
    pub listen: String,
    pub behaviour: Behaviour,
}
pub enum Behaviour {
    Ok,
}
impl std::str::FromStr for Behaviour {
    type Err = String;
    fn from_str(_s: &str) -> Result<Self, String> {
        Ok(Behaviour::Ok)
    }
}
pub fn run(_o: &ExporterOpts) -> std::io::Result<()> {
    todo!()
}
