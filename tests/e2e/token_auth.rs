//! Bearer-token authentication against a real `docker-registry` configured with `auth.token`,
//! its tokens issued by a token server the test runs: login, push (with a cross-repository
//! mount, whose token needs `pull` on the source repository), pull and catalog search.

use std::io::Write;
use std::process::Stdio;

use crate::registry_util::{RegistryAuth, TestRegistry, make_ca, start_token_server, tar_with};
use crate::util::{Env, run_fail, run_ok};

fn login(env: &Env, server: &str, password: &str) -> std::process::Output {
    let mut child = env
        .bale(["login", server, "-u", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn token_auth_login_push_pull_search() {
    let env = Env::new();
    if !crate::util::have("openssl") {
        crate::util::skip("openssl is not installed");
        return;
    }
    let ca = make_ca(&env.path("ca"));
    let tokens = start_token_server(&ca, "bale-test-issuer", "bale-test", "alice", "s3cret");
    let auth = RegistryAuth::Token {
        realm: format!("http://{}/token", tokens.addr),
        service: "bale-test".into(),
        issuer: "bale-test-issuer".into(),
        root_bundle: ca.ca_cert.clone(),
    };
    let Some(reg) = TestRegistry::start(&env.path("reg"), auth, None) else {
        return;
    };
    let server = reg.addr.clone();

    let out = login(&env, &server, "wrong");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "Error: Get \"http://{server}/v2/\": unauthorized: incorrect username or password"
        )),
        "{err}"
    );
    let out = login(&env, &server, "s3cret");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tar = env.path("layer.tar");
    std::fs::write(&tar, tar_with("behind tokens\n")).unwrap();
    let first = format!("{server}/team/one:1");
    let second = format!("{server}/team/two:1");
    for name in [&first, &second] {
        run_ok(&mut env.bale(["import", tar.to_str().unwrap(), name]));
    }
    let out = run_ok(&mut env.bale(["push", &first]));
    assert!(out.contains(": Pushed\n"), "{out}");
    let out = run_ok(&mut env.bale(["push", &second]));
    assert!(out.contains(": Mounted from team/one\n"), "{out}");
    assert!(
        tokens.requests().iter().any(|r| {
            r.target.contains("scope=repository%3Ateam%2Fone%3Apull&")
                || r.target.ends_with("scope=repository%3Ateam%2Fone%3Apull")
        }),
        "the mount's token asks for pull on the source: {:?}",
        tokens.requests()
    );

    let fresh = Env::new();
    // Anonymous: the registry refuses.
    let err = run_fail(&mut fresh.bale(["pull", &first]), 1);
    assert!(err.contains("pull access denied for"), "{err}");
    std::fs::create_dir_all(fresh.path(".docker")).unwrap();
    std::fs::copy(
        env.path(".docker/config.json"),
        fresh.path(".docker/config.json"),
    )
    .unwrap();
    let out = run_ok(&mut fresh.bale(["pull", &first]));
    assert!(out.contains("Pull complete"), "{out}");

    let out = run_ok(&mut env.bale(["search", "--format", "{{.Name}}", &format!("{server}/team")]));
    assert_eq!(out, format!("{server}/team/one\n{server}/team/two\n"));
}
