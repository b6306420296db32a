//! `vdc login` and `vdc logout`.

use super::*;

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    #[arg(long, short, default_value = "admin")]
    username: String,
    /// Password (default: $VDC_PASSWORD, else asked on the terminal).
    #[arg(long, env = "VDC_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

pub async fn login(server: Option<String>, args: LoginArgs, out: Output) -> Result<()> {
    let client = Client::new(server, None)?;
    let password = match args.password {
        Some(p) => p,
        None => {
            eprint!("password for {}: ", args.username);
            let mut s = String::new();
            std::io::stdin().read_line(&mut s)?;
            s.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let resp: LoginResponse = client
        .post(
            "/auth/login",
            &LoginParams {
                username: args.username,
                password,
            },
        )
        .await?;
    let path = Credentials {
        server: client.base.clone(),
        token: resp.token.clone(),
    }
    .save()?;
    match out {
        Output::Json => print_json(&resp.user),
        Output::Table => {
            println!(
                "logged in to {} as {} ({}); session saved in {}",
                client.base,
                resp.user.username,
                crate::governance::roles_text(&resp.user.roles),
                path.display()
            );
            Ok(())
        }
    }
}

pub async fn logout(client: &Client) -> Result<()> {
    let _: serde_json::Value = client.post("/auth/logout", &serde_json::json!({})).await?;
    let path = crate::client::config_dir().join("credentials.json");
    let _ = std::fs::remove_file(path);
    println!("logged out");
    Ok(())
}
