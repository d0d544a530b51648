//! `dqc token --name ci --role operator`: a new API token and the configuration line for it.

use clap::Args;

use crate::config::AccessRole;

/// Arguments of `dqc token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Who will hold the token (shown in logs).
    #[arg(long)]
    pub name: String,
    /// viewer, operator or admin.
    #[arg(long, value_parser = parse_role)]
    pub role: AccessRole,
}

fn parse_role(text: &str) -> Result<AccessRole, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| format!("`{text}` is not a role (viewer, operator, admin)"))
}

/// Prints the token (once) and the `[[api.tokens]]` entry that holds its digest.
pub(crate) fn run(args: &TokenArgs) -> i32 {
    let token = match crate::rest::new_token() {
        Ok(token) => token,
        Err(error) => {
            eprintln!("dqc token: no random source: {error}");
            return 2;
        }
    };
    let role = args.role.as_str();
    println!("token (give it to {}; it is not stored anywhere): {token}", args.name);
    println!(
        "\n[[api.tokens]]\nname = \"{}\"\nrole = \"{role}\"\nsha256 = \"{}\"",
        args.name,
        crate::rest::hash_token(&token)
    );
    0
}
