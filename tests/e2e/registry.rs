//! `bale login`, `logout` and `search` against real `docker-registry` instances (plain HTTP,
//! TLS from a private CA, htpasswd) and fakes on 127.0.0.1 (Docker Hub's search API, a bearer
//! token server, a credential helper).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::registry_util::{FakeServer, RegistryAuth, TestRegistry, make_ca};
use crate::util::{Env, run, run_fail, run_ok};

fn config_json(env: &Env) -> serde_json::Value {
    let text = std::fs::read_to_string(env.path(".docker/config.json")).expect("config.json");
    serde_json::from_str(&text).expect("config.json parses")
}

fn with_stdin(cmd: &mut Command, input: &str) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bale starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("bale finishes")
}

fn htpasswd() -> RegistryAuth {
    RegistryAuth::Htpasswd {
        user: "alice".into(),
        password: "s3cret".into(),
    }
}

#[test]
fn login_logout_plain_htpasswd() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), htpasswd(), None) else {
        return;
    };
    let server = reg.addr.clone();
    std::fs::create_dir_all(env.path(".docker")).unwrap();
    std::fs::write(
        env.path(".docker/config.json"),
        r#"{"psFormat": "table {{.ID}}", "auths": {"other.example:5000": {"auth": "eDp5"}}}"#,
    )
    .unwrap();

    // Wrong password: the registry's reason, docker's shape, nothing stored.
    let err = run_fail(
        env.bale(["login", &server, "-u", "alice", "-p", "wrong"])
            .stdin(Stdio::null()),
        1,
    );
    assert!(
        err.contains("WARNING! Using --password via the CLI is insecure. Use --password-stdin."),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "Error: Get \"http://{server}/v2/\": unauthorized: authentication required"
        )),
        "{err}"
    );
    assert!(config_json(&env)["auths"].get(&server).is_none());

    // Right password on stdin.
    let out = with_stdin(
        &mut env.bale(["login", &server, "-u", "alice", "--password-stdin"]),
        "s3cret\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout, "Login Succeeded\n");
    let config_path = env.path(".docker/config.json");
    assert!(
        stderr.contains(&format!(
            "WARNING! Your credentials are stored unencrypted in '{}'.",
            config_path.display()
        )),
        "{stderr}"
    );
    let doc = config_json(&env);
    assert_eq!(
        doc["auths"][&server]["auth"],
        STANDARD.encode("alice:s3cret")
    );
    assert_eq!(doc["auths"]["other.example:5000"]["auth"], "eDp5");
    assert_eq!(doc["psFormat"], "table {{.ID}}");
    let mode = std::fs::metadata(&config_path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // Stored credentials are reused when none are given.
    let out = run_ok(env.bale(["login", &server]).stdin(Stdio::null()));
    assert_eq!(
        out,
        "Authenticating with existing credentials...\nLogin Succeeded\n"
    );

    // Logout removes them, keeps the rest, and a second logout says so.
    let out = run_ok(&mut env.bale(["logout", &server]));
    assert_eq!(out, format!("Removing login credentials for {server}\n"));
    let doc = config_json(&env);
    assert!(doc["auths"].get(&server).is_none(), "{doc}");
    assert_eq!(doc["auths"]["other.example:5000"]["auth"], "eDp5");
    assert_eq!(doc["psFormat"], "table {{.ID}}");
    let out = run_ok(&mut env.bale(["logout", &server]));
    assert_eq!(out, format!("Not logged in to {server}\n"));

    // Without a terminal there is nobody to prompt.
    let err = run_fail(env.bale(["login", &server]).stdin(Stdio::null()), 1);
    assert!(
        err.contains("Cannot perform an interactive login from a non TTY device"),
        "{err}"
    );
    let err = run_fail(&mut env.bale(["login", &server, "--password-stdin"]), 1);
    assert!(
        err.contains("Must provide --username with --password-stdin"),
        "{err}"
    );
}

#[test]
fn login_tls_private_ca() {
    let env = Env::new();
    if !crate::util::have("openssl") {
        crate::util::skip("openssl is not installed");
        return;
    }
    let ca = make_ca(&env.path("ca"));
    let Some(reg) = TestRegistry::start(&env.path("reg"), htpasswd(), Some(&ca)) else {
        return;
    };
    let server = reg.addr.clone();
    let certs_d = env.path("certs.d");
    std::fs::create_dir_all(&certs_d).unwrap();
    let login = |password: &str| {
        let mut cmd = env.bale(["login", &server, "-u", "alice", "--password-stdin"]);
        cmd.env("BALE_LOOPBACK_INSECURE", "false")
            .env("BALE_CERTS_D", &certs_d);
        with_stdin(&mut cmd, &format!("{password}\n"))
    };

    // Verified TLS without the CA: refused, with a hint.
    let out = login("s3cret");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("Error: Get \"https://{server}/v2/\"")),
        "{err}"
    );
    assert!(err.contains("certs.d"), "{err}");

    // With the CA in certs.d: verified, and wrong and right passwords behave.
    let host_dir = certs_d.join(&server);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(&ca.ca_cert, host_dir.join("ca.crt")).unwrap();
    let out = login("wrong");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "Error: Get \"https://{server}/v2/\": unauthorized: authentication required"
        )),
        "{err}"
    );
    let out = login("s3cret");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");

    // A loopback registry is insecure by default, as in docker: unverified TLS works.
    let out = with_stdin(
        &mut env.bale(["login", &server, "-u", "alice", "--password-stdin"]),
        "s3cret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn credential_helper_protocol() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), htpasswd(), None) else {
        return;
    };
    let server = reg.addr.clone();
    // A helper that keeps one credential in a file and logs its verbs.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let store = env.path("helper-store.json");
    let calls = env.path("helper-calls");
    let script = format!(
        "#!/bin/sh\necho \"$1\" >> '{calls}'\ncase \"$1\" in\n\
         store) cat > '{store}' ;;\n\
         get) read server; if [ -f '{store}' ]; then cat '{store}'; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n\
         erase) read server; echo \"$server\" >> '{calls}'; rm -f '{store}' ;;\n\
         esac\n",
        calls = calls.display(),
        store = store.display()
    );
    let helper = bin.join("docker-credential-test");
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(env.path(".docker")).unwrap();
    std::fs::write(env.path(".docker/config.json"), r#"{"credsStore": "test"}"#).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = with_stdin(
        env.bale(["login", &server, "-u", "alice", "--password-stdin"])
            .env("PATH", &path),
        "s3cret\n",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("unencrypted"), "{stderr}");
    let doc = config_json(&env);
    assert_eq!(doc["auths"][&server], serde_json::json!({}));
    assert_eq!(doc["credsStore"], "test");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": server, "Username": "alice", "Secret": "s3cret"})
    );

    // The helper's credentials are found again.
    let out = run_ok(
        env.bale(["login", &server])
            .env("PATH", &path)
            .stdin(Stdio::null()),
    );
    assert!(out.ends_with("Login Succeeded\n"), "{out}");

    let out = run_ok(env.bale(["logout", &server]).env("PATH", &path));
    assert_eq!(out, format!("Removing login credentials for {server}\n"));
    assert!(!store.exists());
    let log = std::fs::read_to_string(&calls).unwrap();
    assert!(log.contains(&format!("erase\n{server}\n")), "{log}");
    assert!(log.starts_with("store\nget\n"), "{log}");
}

#[test]
fn login_bearer_token_server() {
    // The token refusal's wording (`details`) and the `service` parameter, against a fake
    // registry; `token_auth.rs` runs the real registry with signed tokens.
    let fake = FakeServer::start(|req| {
        let auth = crate::registry_util::header(&req.headers, "authorization").unwrap_or_default();
        let json = |v: serde_json::Value| v.to_string().into_bytes();
        if req.target.starts_with("/token") {
            if auth == format!("Basic {}", STANDARD.encode("alice:s3cret")) {
                return (200, vec![], json(serde_json::json!({"token": "tok-alice"})));
            }
            return (
                401,
                vec![],
                json(serde_json::json!({"details": "incorrect username or password"})),
            );
        }
        if auth == "Bearer tok-alice" {
            return (200, vec![], b"{}".to_vec());
        }
        (
            401,
            vec![(
                "WWW-Authenticate".into(),
                format!(
                    "Bearer realm=\"http://{}/token\",service=\"fake.registry\"",
                    req_host(req)
                ),
            )],
            json(
                serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}),
            ),
        )
    });
    let env = Env::new();
    let server = fake.addr.clone();
    let out = with_stdin(
        &mut env.bale(["login", &server, "-u", "alice", "--password-stdin"]),
        "nope\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "Error: Get \"http://{server}/v2/\": unauthorized: incorrect username or password"
        )),
        "{err}"
    );
    let out = with_stdin(
        &mut env.bale(["login", &server, "-u", "alice", "--password-stdin"]),
        "s3cret\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.target.starts_with("/token"))
        .collect();
    assert!(
        token_requests
            .iter()
            .all(|r| r.target.contains("service=fake.registry")),
        "{token_requests:?}"
    );
}

fn req_host(req: &crate::registry_util::SeenRequest) -> String {
    crate::registry_util::header(&req.headers, "host").unwrap_or_default()
}

#[test]
fn search_fake_hub_api() {
    let fake = FakeServer::start(|req| {
        if req.target == "/v2/" {
            return (200, vec![], b"{}".to_vec());
        }
        if req.target.starts_with("/v1/search?") {
            let body = serde_json::json!({
                "num_results": 3,
                "query": "busy",
                "results": [
                    {"name": "busybox", "description": "Busybox base image.", "star_count": 3400, "is_official": true, "is_automated": false},
                    {"name": "someone/busybox-tools", "description": "Many tools built\non busybox, with a long description", "star_count": 12, "is_official": false, "is_automated": false},
                    {"name": "other/busy", "description": "", "star_count": 0, "is_official": false, "is_automated": false}
                ]
            });
            return (200, vec![], body.to_string().into_bytes());
        }
        (404, vec![], Vec::new())
    });
    let env = Env::new();
    let term = format!("{}/busy", fake.addr);
    let out = run_ok(&mut env.bale(["search", &term]));
    let expected = "\
NAME                    DESCRIPTION                                     STARS     OFFICIAL
busybox                 Busybox base image.                             3400      [OK]
someone/busybox-tools   Many tools built on busybox, with a long des…   12        
other/busy                                                              0         
";
    assert_eq!(out, expected);
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.target == "/v1/search?q=busy&n=25"),
        "{:?}",
        fake.requests()
    );

    let out = run_ok(&mut env.bale([
        "search",
        "--limit",
        "3",
        "--filter",
        "stars=10",
        "--no-trunc",
        "--format",
        "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.Description}}",
        &term,
    ]));
    assert_eq!(
        out,
        "busybox|3400|[OK]|Busybox base image.\nsomeone/busybox-tools|12||Many tools built on busybox, with a long description\n"
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.target == "/v1/search?q=busy&n=3")
    );
    let out = run_ok(&mut env.bale([
        "search",
        "-f",
        "is-official=true",
        "--format",
        "table {{.Name}}\t{{.StarCount}}",
        &term,
    ]));
    assert_eq!(out, "NAME      STARS\nbusybox   3400\n");

    // A term naming no registry goes to Docker Hub's search API, here the fake: one request,
    // with no registry probe (`/v2/`) before it.
    let asked = fake.requests().len();
    let out = run_ok(env.bale(["search", "--format", "{{.Name}}", "busy"]).env(
        "BALE_HUB_SEARCH_URL",
        format!("http://{}/v1/search", fake.addr),
    ));
    assert_eq!(
        out,
        "busybox
someone/busybox-tools
other/busy
"
    );
    let targets: Vec<String> = fake.requests()[asked..]
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(targets, ["/v1/search?q=busy&n=25"]);

    let err = run_fail(&mut env.bale(["search", "--limit", "0", &term]), 1);
    assert!(
        err.contains("Error: limit 0 is outside the range of [1, 100]"),
        "{err}"
    );
    let err = run_fail(
        &mut env.bale(["search", "--filter", "stars=many", &term]),
        1,
    );
    assert!(err.contains("invalid filter 'stars=many'"), "{err}");
}

#[test]
fn search_registry_catalog() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), RegistryAuth::None, None) else {
        return;
    };
    for repo in ["web", "team/webapp", "db"] {
        reg.seed_image(repo, "1");
    }
    let out = run_ok(&mut env.bale([
        "search",
        "--format",
        "{{.Name}}",
        &format!("{}/web", reg.addr),
    ]));
    assert_eq!(out, format!("{0}/team/webapp\n{0}/web\n", reg.addr));
    let out = run(&mut env.bale(["search", &format!("{}/nothing", reg.addr)]));
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "NAME      DESCRIPTION   STARS     OFFICIAL\n"
    );
}

#[test]
fn insecure_registry_flag_and_config_file() {
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), htpasswd(), None) else {
        return;
    };
    let server = reg.addr.clone();
    let login = |extra: &[&str]| {
        let mut cmd = env.bale(["login", &server, "-u", "alice", "--password-stdin"]);
        cmd.args(extra).env("BALE_LOOPBACK_INSECURE", "false");
        with_stdin(&mut cmd, "s3cret\n")
    };
    // Treated like a remote registry, a plain HTTP one is only reached over TLS: refused.
    let out = login(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("Get \"https://{server}/v2/\"")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = login(&["--insecure-registry", &server]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(env.path(".config/bale")).unwrap();
    std::fs::write(
        env.path(".config/bale/config.json"),
        format!(r#"{{"insecure-registries": ["{server}"]}}"#),
    )
    .unwrap();
    let out = login(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn logout_docker_hub_when_not_logged_in() {
    let env = Env::new();
    let out = run_ok(&mut env.bale(["logout"]));
    assert_eq!(out, "Not logged in to https://index.docker.io/v1/\n");
    std::fs::create_dir_all(env.path(".docker")).unwrap();
    std::fs::write(
        env.path(".docker/config.json"),
        r#"{"auths": {"https://index.docker.io/v1/": {"auth": "eDp5"}}}"#,
    )
    .unwrap();
    let out = run_ok(&mut env.bale(["logout", "docker.io"]));
    assert_eq!(
        out,
        "Removing login credentials for https://index.docker.io/v1/\n"
    );
    assert_eq!(config_json(&env)["auths"], serde_json::json!({}));
}

#[test]
fn login_prompts_on_a_terminal_without_echo() {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    if !crate::util::have("script") {
        crate::util::skip("script (util-linux) is not installed");
        return;
    }
    let env = Env::new();
    let Some(reg) = TestRegistry::start(&env.path("reg"), htpasswd(), None) else {
        return;
    };
    // `script` gives bale a pseudo-terminal.
    let line = format!("'{}' login {}", crate::util::bale_bin().display(), reg.addr);
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("BALE_ROOT", env.root())
        .env("HOME", env.path(""))
        .env_remove("DOCKER_CONFIG")
        .current_dir(env.path(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script starts");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let wait_for = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !seen.lock().unwrap().contains(what) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {what:?} in {:?}",
                seen.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    wait_for("Username: ");
    stdin.write_all(b"alice\n").unwrap();
    // Echo is off before the prompt is shown.
    wait_for("Password: ");
    stdin.write_all(b"s3cret\n").unwrap();
    wait_for("Login Succeeded");
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let out = seen.lock().unwrap().clone();
    assert!(status.success(), "{out}");
    assert!(!out.contains("s3cret"), "the password was echoed: {out:?}");
    assert_eq!(
        config_json(&env)["auths"][&reg.addr]["auth"],
        STANDARD.encode("alice:s3cret")
    );
}

#[test]
fn tls_client_certificate_from_certs_d() {
    let env = Env::new();
    if !crate::util::have("openssl") {
        crate::util::skip("openssl is not installed");
        return;
    }
    let ca = make_ca(&env.path("ca"));
    let Some(reg) = TestRegistry::start_with(&env.path("reg"), htpasswd(), Some(&ca), true) else {
        return;
    };
    let certs_d = env.path("certs.d");
    let host_dir = certs_d.join(&reg.addr);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(&ca.ca_cert, host_dir.join("ca.crt")).unwrap();
    let login = || {
        let mut cmd = env.bale(["login", &reg.addr, "-u", "alice", "--password-stdin"]);
        cmd.env("BALE_LOOPBACK_INSECURE", "false")
            .env("BALE_CERTS_D", &certs_d);
        with_stdin(&mut cmd, "s3cret\n")
    };
    let out = login();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the registry wants a client certificate"
    );
    crate::registry_util::make_client_cert(&ca, &host_dir);
    let out = login();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn search_follows_catalog_pages() {
    let fake = FakeServer::start(|req| {
        let page = |repos: &[&str]| {
            serde_json::json!({ "repositories": repos })
                .to_string()
                .into_bytes()
        };
        match req.target.as_str() {
            "/v2/" => (200, vec![], b"{}".to_vec()),
            "/v2/_catalog?n=1000" => (
                200,
                vec![(
                    "Link".into(),
                    r#"</v2/_catalog?last=b&n=1000>; rel="next""#.into(),
                )],
                page(&["a/web", "b"]),
            ),
            "/v2/_catalog?last=b&n=1000" => (200, vec![], page(&["c/web", "d"])),
            _ => (404, vec![], Vec::new()),
        }
    });
    let env = Env::new();
    let out = run_ok(&mut env.bale([
        "search",
        "--format",
        "{{.Name}}",
        &format!("{}/web", fake.addr),
    ]));
    assert_eq!(out, format!("{0}/a/web\n{0}/c/web\n", fake.addr));
}
