//! `vdc`: the server (`vdc serve`), the client commands, offline inspection (`vdc inspect`);
//! `vdc bench` dispatches to the `vdc-bench` crate.

mod client;
mod commands;
mod compliance;
mod governance;
mod inspect;
mod ops;
mod placing;
mod plans;
mod reports;
mod serve;

use clap::{Parser, Subcommand, ValueEnum};

/// vdc — virtual datacenter manager.
#[derive(Debug, Parser)]
#[command(name = "vdc", version, about, propagate_version = true)]
pub struct Cli {
    /// Server URL (default: the one you logged in to, else http://127.0.0.1:8080).
    #[arg(long, global = true, env = "VDC_SERVER")]
    server: Option<String>,
    /// Bearer token (default: the one saved by `vdc login`).
    #[arg(long, global = true, env = "VDC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = OutputArg::Table)]
    output: OutputArg,
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables for people.
    Table,
    /// JSON for scripts.
    Json,
}

/// What `--output` accepts: CSV only for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Table,
    Json,
    /// Reports only.
    Csv,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the vdc server (API on an embedded SQLite store; a simulated fleet unless disabled).
    Serve(Box<serve::ServeArgs>),
    /// Log in and save the session token.
    Login(commands::LoginArgs),
    /// End the saved session.
    Logout,
    /// Hypervisor hosts.
    #[command(subcommand)]
    Host(commands::HostCmd),
    /// Virtual machines.
    #[command(subcommand)]
    Vm(commands::VmCmd),
    /// Long-running operations.
    #[command(subcommand)]
    Job(commands::JobCmd),
    /// Where VMs fit best: every host rated 0–5 stars with the reasons.
    #[command(subcommand)]
    Placement(PlacementCmd),
    /// Clusters and the overcommit ratios placement applies.
    #[command(subcommand)]
    Cluster(placing::ClusterCmd),
    /// Capacity plans: when clusters run out.
    #[command(subcommand)]
    Plan(plans::PlanCmd),
    /// Users and the roles they hold at a scope.
    #[command(subcommand)]
    User(governance::UserCmd),
    /// Built-in and custom roles.
    #[command(subcommand)]
    Role(governance::RoleCmd),
    /// Departments (cost centres).
    #[command(subcommand)]
    Department(governance::DepartmentCmd),
    /// The audit log: search and export.
    #[command(subcommand)]
    Audit(governance::AuditCmd),
    /// Named API tokens for scripts.
    #[command(subcommand)]
    Token(governance::TokenCmd),
    /// Provisioning requests and approvals.
    #[command(subcommand)]
    Request(governance::RequestCmd),
    /// Department quotas in resources and money.
    #[command(subcommand)]
    Quota(governance::QuotaCmd),
    /// The price list money quotas (and chargeback) use.
    #[command(subcommand)]
    Prices(governance::PriceCmd),
    /// Reports: sprawl, licences, chargeback, patches.
    #[command(subcommand)]
    Report(reports::ReportCmd),
    /// The licence catalogue the licence report checks.
    #[command(subcommand)]
    Licence(compliance::LicenceCmd),
    /// Patch baselines per OS, which the patch report checks.
    #[command(subcommand, name = "os-baseline")]
    OsBaseline(compliance::BaselineCmd),
    /// What a VM runs, when its host does not say.
    #[command(subcommand, name = "guest-os")]
    GuestOs(compliance::GuestOsCmd),
    /// Import another tool's export (RVTools) for the reports.
    #[command(subcommand)]
    Import(reports::ImportCmd),
    /// Resync the inventory from every host now (admin).
    Sync,
    /// What the server does in the background: each activity, when it runs, its last run
    /// (admins and auditors).
    Status,
    /// Print the OpenAPI document of this build's API.
    Openapi,
    /// Measure vdc at scale.
    #[command(subcommand)]
    Bench(vdc_bench::BenchCmd),
    /// Inspect files offline (no server needed).
    #[command(subcommand)]
    Inspect(inspect::InspectCmd),
}

#[derive(Debug, Subcommand)]
enum PlacementCmd {
    /// Rate every host for a VM (by size, or an existing VM).
    Rate(Box<placing::RateArgs>),
    /// How vdc placed a VM it created: the host, the best hosts then and why.
    Show {
        /// VM id or name.
        vm: String,
        /// Show at most this many hosts.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("one rustls crypto provider");
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    if let Err(e) = rt.block_on(run(cli)) {
        // One line, with the chain of causes.
        let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        eprintln!("error: {}", chain.join(": "));
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Report(c) = cli.command {
        let client = client::Client::new(cli.server, cli.token)?;
        return reports::report(&client, c, cli.output).await;
    }
    let out = match cli.output {
        OutputArg::Table => Output::Table,
        OutputArg::Json => Output::Json,
        OutputArg::Csv => anyhow::bail!("--output csv is for reports (vdc report …)"),
    };
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Openapi => {
            print!("{}", vdc_server::http::openapi_json());
            Ok(())
        }
        Command::Bench(b) => vdc_bench::run(b).await,
        Command::Inspect(c) => inspect::run(c, out),
        Command::Login(args) => commands::login(cli.server, args, out).await,
        Command::Logout => commands::logout(&client::Client::new(cli.server, cli.token)?).await,
        Command::Host(c) => {
            commands::host(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Vm(c) => commands::vm(&client::Client::new(cli.server, cli.token)?, c, out).await,
        Command::Job(c) => {
            commands::job(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Placement(PlacementCmd::Rate(a)) => {
            placing::rate(&client::Client::new(cli.server, cli.token)?, *a, out).await
        }
        Command::Placement(PlacementCmd::Show { vm, top }) => {
            placing::show(&client::Client::new(cli.server, cli.token)?, &vm, top, out).await
        }
        Command::Cluster(c) => {
            placing::cluster(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Plan(c) => plans::run(&client::Client::new(cli.server, cli.token)?, c, out).await,
        Command::Sync => commands::sync(&client::Client::new(cli.server, cli.token)?, out).await,
        Command::Status => {
            commands::status(&client::Client::new(cli.server, cli.token)?, out).await
        }
        Command::User(c) => {
            governance::user(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Role(c) => {
            governance::role(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Department(c) => {
            governance::department(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Audit(c) => {
            governance::audit(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Token(c) => {
            governance::token(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Request(c) => {
            governance::request(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Quota(c) => {
            governance::quota(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Prices(c) => {
            governance::prices(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Licence(c) => {
            compliance::licence(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::OsBaseline(c) => {
            compliance::baseline(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::GuestOs(c) => {
            compliance::guest_os(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
        Command::Report(_) => unreachable!("handled above"),
        Command::Import(c) => {
            reports::import(&client::Client::new(cli.server, cli.token)?, c, out).await
        }
    }
}
