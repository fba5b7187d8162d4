//! `bale top`: the running processes of a container, as `ps` shows them.

use std::process::ExitCode;

use bale_container::Containers;

use super::Globals;
use crate::format::tabwrite;

/// Display the running processes of a container.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// ps options (default -ef)
    #[arg(
        value_name = "PS OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    ps_args: Vec<String>,
}

/// Runs `bale top`.
pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let store = globals.store()?;
    let containers = Containers::open(&store)?;
    let c = containers.get(&args.container)?;
    let table = containers.top(&c, &args.ps_args)?;
    let mut text = table.titles.join("\t");
    text.push('\n');
    for row in &table.rows {
        text.push_str(&row.join("\t"));
        text.push('\n');
    }
    print!("{}", tabwrite(&text));
    Ok(ExitCode::SUCCESS)
}
