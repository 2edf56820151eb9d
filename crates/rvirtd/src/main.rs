//! rvirtd (in progress): see the README's status table.
fn main() -> anyhow::Result<()> {
    anyhow::bail!("rvirtd is not usable yet: the daemon loop is still being written")
}
