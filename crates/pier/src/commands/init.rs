//! `pier init [DIR]`: writes a commented pier.toml equivalent to the Procfile (and app.json).

use std::path::Path;

use crate::exit::Exit;

pub fn run(dir: Option<&Path>, force: bool) -> anyhow::Result<()> {
    let dir = dir.unwrap_or(Path::new("."));
    let target = dir.join("pier.toml");
    if target.exists() && !force {
        return Err(Exit::failed(format!(
            "{} already exists; pass --force to overwrite it",
            target.display()
        )));
    }
    let text = pier_spec::init_from_procfile(dir)
        .map_err(|e| Exit::invalid(format!("cannot convert the Procfile\n{e}")))?;
    std::fs::write(&target, text)
        .map_err(|e| Exit::failed(format!("cannot write {}: {e}", target.display())))?;
    println!(
        "Wrote {}. Review it, then run `pier up {}`.",
        target.display(),
        dir.display()
    );
    Ok(())
}
