//! Path handling: normalisation, 400s for escapes and bad encoding, 404s for what is not content,
//! and symlinks that leave the root.

use crate::support::TestServer;

#[tokio::test]
async fn equivalent_spellings_reach_the_same_file() {
    let s = TestServer::start().await;
    let file = std::fs::read(s.path("vod_ts/seg0.ts")).unwrap();
    for path in [
        "/vod_ts/seg0.ts",
        "//vod_ts//seg0.ts",
        "/vod_ts/./seg0.ts",
        "/fmp4/../vod_ts/seg0.ts",
        "/vod_ts%2Fseg0.ts",
        "/%76od_ts/seg%30.ts",
        "/vod_ts/seg0.ts?cache=bust",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body, file, "{path}");
    }
}

#[tokio::test]
async fn escapes_nul_and_bad_encoding_are_400() {
    let s = TestServer::start().await;
    for path in [
        "/../etc/passwd",
        "/vod_ts/../../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/..%2f..%2fetc/passwd",
        "/vod_ts/seg0.ts%00.m3u8",
        "/bad%zz",
        "/bad%4",
        "/bad%",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 400, "{path}");
    }
}

#[tokio::test]
async fn directories_dotfiles_and_tmp_files_are_404() {
    let s = TestServer::start().await;
    std::fs::write(s.path("vod_ts/.complete"), "").unwrap();
    std::fs::write(s.path("vod_ts/index.m3u8.tmp"), "#EXTM3U\n").unwrap();
    std::fs::write(s.path("vod_ts/seg9.ts.TMP"), "x").unwrap();
    std::fs::create_dir(s.path(".hidden")).unwrap();
    std::fs::write(s.path(".hidden/a.ts"), "x").unwrap();
    for path in [
        "/",
        "/vod_ts",
        "/vod_ts/",
        "/vod_ts/.complete",
        "/vod_ts/index.m3u8.tmp",
        "/vod_ts/seg9.ts.TMP",
        "/.hidden/a.ts",
        "/vod_ts/seg0.ts/",
        "/nope.ts",
        "/vod_ts/seg0.ts/x",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("seg0.ts"), "never a listing: {path}");
    }
}

#[tokio::test]
async fn symlinks_leaving_the_root_are_never_followed() {
    let s = TestServer::start().await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.ts"), "SECRET").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.ts"), s.path("vod_ts/link.ts")).unwrap();
    std::os::unix::fs::symlink(outside.path(), s.path("outdir")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc/hostname", s.path("vod_ts/rel.ts")).unwrap();
    for path in ["/vod_ts/link.ts", "/outdir/secret.ts", "/vod_ts/rel.ts"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("SECRET"));
    }
    // A symlink that stays inside the root is an ordinary alias.
    std::os::unix::fs::symlink("seg0.ts", s.path("vod_ts/alias.ts")).unwrap();
    assert_eq!(s.get("/vod_ts/alias.ts").await.status, 200);
}
