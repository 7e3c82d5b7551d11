//! How the server sends what it serves: the app's files precompressed by `Accept-Encoding` and revalidated on each visit, REST answers over 1 KiB compressed and never cached, and the security headers on every page and answer.

use crate::common;

use anyhow::{Context, Result};
use common::{http_with, token_for, Server};

/// A built app in `dir`: a page, a script with its `.br` and `.gz` copies.
fn app(dir: &std::path::Path) -> Result<()> {
    std::fs::write(dir.join("index.html"), "<!doctype html><title>Duet</title>")?;
    std::fs::write(dir.join("app.js"), "export const x = 1;\n".repeat(200))?;
    std::fs::write(dir.join("app.js.br"), b"brotli bytes")?;
    std::fs::write(dir.join("app.js.gz"), b"gzip bytes")?;
    Ok(())
}

#[tokio::test]
async fn the_app_s_files_go_precompressed_by_accept_encoding_with_security_headers_everywhere(
) -> Result<()> {
    let data = tempfile::tempdir()?;
    let site = tempfile::tempdir()?;
    app(site.path())?;
    let mut config = duet_server::Config::new(data.path());
    config.frontend_dir = Some(site.path().to_owned());
    let server = Server::start_with(config).await?;

    for (accept, encoding, body) in [
        ("br, gzip", Some("br"), "brotli bytes"),
        ("gzip", Some("gzip"), "gzip bytes"),
        ("identity", None, "export const x = 1;\n"),
    ] {
        let r = http_with(
            server.addr,
            "GET",
            "/app.js",
            &[("Accept-Encoding", accept)],
            None,
        )
        .await?;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-encoding").as_deref(),
            encoding,
            "{accept}"
        );
        assert!(
            r.body.starts_with(body),
            "{accept}: {}",
            &r.body[..20.min(r.body.len())]
        );
        assert!(r
            .header("content-type")
            .is_some_and(|t| t.contains("javascript")));
        assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
    }
    // A page of the app (client-side route) and the API: the security headers on both.
    let token = token_for(server.addr, "ada").await?;
    let auth = format!("Bearer {token}");
    let page = http_with(server.addr, "GET", "/specs/anything", &[], None).await?;
    assert!(page.body.contains("<title>Duet</title>"));
    let api = http_with(
        server.addr,
        "GET",
        "/api/me",
        &[("Authorization", &auth)],
        None,
    )
    .await?;
    assert_eq!(api.status, 200);
    for r in [&page, &api] {
        let csp = r.header("content-security-policy").context("a CSP")?;
        for part in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(part), "{csp}");
        }
        assert!(!csp.contains("'unsafe-eval'"), "{csp}");
        assert_eq!(
            r.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(r.header("referrer-policy").as_deref(), Some("same-origin"));
        assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    }
    assert_eq!(api.header("cache-control").as_deref(), Some("no-store"));
    server.stop().await
}

#[tokio::test]
async fn content_hashed_files_are_kept_for_good_and_the_page_is_revalidated() -> Result<()> {
    let data = tempfile::tempdir()?;
    let site = tempfile::tempdir()?;
    app(site.path())?;
    std::fs::write(site.path().join("app.0123456789abcdef.js"), "export {};")?;
    std::fs::write(site.path().join("style.0123456789abcdef.css"), "body {}")?;
    let mut config = duet_server::Config::new(data.path());
    config.frontend_dir = Some(site.path().to_owned());
    let server = Server::start_with(config).await?;
    let cache = |path: &'static str| async move {
        let r = http_with(server.addr, "GET", path, &[("Accept-Encoding", "br")], None).await?;
        anyhow::Ok((r.status, r.header("cache-control")))
    };
    let forever = Some("public, max-age=31536000, immutable".to_owned());
    assert_eq!(
        cache("/app.0123456789abcdef.js").await?,
        (200, forever.clone())
    );
    assert_eq!(cache("/style.0123456789abcdef.css").await?, (200, forever));
    // The page (and any client-side route), the service worker, unhashed files: asked
    // again on each visit. A hashed name that is not there is the page, not kept.
    for path in [
        "/",
        "/specs/x",
        "/app.js",
        "/app.0123456789abcdee.js",
        "/a.js.0123456789abcdef",
    ] {
        let (status, policy) = cache(path).await?;
        assert_eq!(status, 200, "{path}");
        assert_eq!(policy.as_deref(), Some("no-cache"), "{path}");
    }
    server.stop().await
}

#[tokio::test]
async fn rest_answers_over_a_kilobyte_are_compressed_for_clients_that_accept_it() -> Result<()> {
    let data = tempfile::tempdir()?;
    let server = Server::start(data.path()).await?;
    let token = token_for(server.addr, "ada").await?;
    let auth = format!("Bearer {token}");
    // A long title makes the list answer several KiB.
    let title = "Quarterly exports ".repeat(50);
    for _ in 0..3 {
        let body = serde_json::json!({ "title": title }).to_string();
        let r = http_with(
            server.addr,
            "POST",
            "/api/specs",
            &[("Authorization", &auth)],
            Some(&body),
        )
        .await?;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let plain = http_with(
        server.addr,
        "GET",
        "/api/specs",
        &[("Authorization", &auth)],
        None,
    )
    .await?;
    assert_eq!(plain.header("content-encoding"), None);
    assert!(plain.body.len() > 1024);
    let gz = http_with(
        server.addr,
        "GET",
        "/api/specs",
        &[("Authorization", &auth), ("Accept-Encoding", "gzip")],
        None,
    )
    .await?;
    assert_eq!(gz.header("content-encoding").as_deref(), Some("gzip"));
    // A small answer stays as it is.
    let small = http_with(
        server.addr,
        "GET",
        "/api/me",
        &[("Authorization", &auth), ("Accept-Encoding", "gzip")],
        None,
    )
    .await?;
    assert_eq!(small.header("content-encoding"), None);
    server.stop().await
}
