//! The tamper-evident audit log, end to end: a real log written through signed requests,
//! tampered with on disk the way someone with file access could, then checked with the
//! `syncwarden audit verify` binary, which must name the first bad record.

use crate::world::World;
use std::path::{Path, PathBuf};
use std::process::Command;
use syncwarden::sim::stack::APPROVER;
use syncwarden::store::audit::AuditRecord;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A world that ran the approval loop once, and a flushed copy of its data directory.
async fn written_log() -> (World, tempfile::TempDir, u64) {
    let mut t = World::new().await;
    let msg = t.alert("s1").await;
    assert_eq!(t.click(&msg, "approve", APPROVER).await, 200);
    t.run_jobs().await;
    t.fivetran();
    t.slack();
    t.state.store.flush_blocking().unwrap();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&t.stack.data_dir.path().join("data"), copy.path());
    let n = t.audit().len() as u64;
    assert!(n >= 8, "a real loop writes a real log: {n}");
    (t, copy, n)
}

/// A fresh copy of `base` with `tamper` applied to its sled trees.
fn tampered(base: &Path, tamper: impl FnOnce(&sled::Tree, &sled::Tree)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(base, dir.path());
    let db = sled::open(dir.path()).unwrap();
    tamper(
        &db.open_tree("audit").unwrap(),
        &db.open_tree("meta").unwrap(),
    );
    db.flush().unwrap();
    dir
}

fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn record(tree: &sled::Tree, seq: u64) -> AuditRecord {
    serde_json::from_slice(&tree.get(key(seq)).unwrap().unwrap()).unwrap()
}

fn put(tree: &sled::Tree, seq: u64, r: &AuditRecord) {
    tree.insert(key(seq), serde_json::to_vec(r).unwrap())
        .unwrap();
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn syncwarden(args: &[&str], dir: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_syncwarden"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the syncwarden binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn verify(dir: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    syncwarden(&args, dir)
}

fn assert_broken_at(run: &Run, seq: u64, why: &str) {
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains(&format!("audit chain broken at record {seq}:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(why), "{}", run.stderr);
}

#[tokio::test]
async fn verify_passes_on_the_real_log_and_names_the_first_bad_record_after_tampering() {
    let (_t, base, n) = written_log().await;
    let clean = verify(base.path(), &[]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(
        clean
            .stdout
            .contains(&format!("audit log verified: {n} record(s), head ")),
        "{}",
        clean.stdout
    );

    // Changed: someone edits who approved.
    let dir = tampered(base.path(), |audit, _| {
        let mut r = record(audit, 5);
        r.entry.actor = "U0MALLORY".into();
        put(audit, 5, &r);
    });
    assert_broken_at(&verify(dir.path(), &[]), 5, "was changed");

    // Removed: a record in the middle is deleted.
    let dir = tampered(base.path(), |audit, _| {
        audit.remove(key(4)).unwrap();
    });
    assert_broken_at(&verify(dir.path(), &[]), 4, "is missing");

    // Reordered: two records swap places.
    let dir = tampered(base.path(), |audit, _| {
        let (six, seven) = (record(audit, 6), record(audit, 7));
        put(audit, 6, &seven);
        put(audit, 7, &six);
    });
    assert_broken_at(&verify(dir.path(), &[]), 6, "out of place");

    // Rewritten and re-hashed: the next record no longer links to it.
    let dir = tampered(base.path(), |audit, _| {
        let r = record(audit, 3);
        let mut entry = r.entry.clone();
        entry.detail = serde_json::json!({"forged": true});
        put(audit, 3, &AuditRecord::seal(3, r.at, entry, r.prev_hash));
    });
    assert_broken_at(&verify(dir.path(), &[]), 3, "was rewritten");

    // Truncated: the last records are cut off; only the stored head shows it.
    let dir = tampered(base.path(), |audit, _| {
        for seq in (n - 2)..=n {
            audit.remove(key(seq)).unwrap();
        }
    });
    assert_broken_at(&verify(dir.path(), &[]), n - 2, "truncated");
}

#[tokio::test]
async fn a_consistently_rewritten_log_is_caught_by_an_earlier_checkpoint() {
    let (_t, base, n) = written_log().await;
    let head = base.path().to_path_buf();
    let clean = verify(&head, &[]);
    let hash = clean
        .stdout
        .split("head ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let checkpoint = format!("{n}:{hash}");
    assert_eq!(verify(&head, &["--checkpoint", &checkpoint]).code, 0);

    // Rewrite record 2 and re-seal everything after it, head included: self-consistent.
    let dir = tampered(base.path(), |audit, meta| {
        let mut prev = record(audit, 1).hash;
        for seq in 2..=n {
            let r = record(audit, seq);
            let mut entry = r.entry.clone();
            if seq == 2 {
                entry.actor = "U0MALLORY".into();
            }
            let sealed = AuditRecord::seal(seq, r.at, entry, prev);
            prev = sealed.hash.clone();
            put(audit, seq, &sealed);
        }
        meta.insert("audit_head", prev.as_bytes()).unwrap();
    });
    assert_eq!(
        verify(dir.path(), &[]).code,
        0,
        "undetectable from the log alone"
    );
    assert_broken_at(
        &verify(dir.path(), &["--checkpoint", &checkpoint]),
        n,
        "does not match the checkpoint",
    );
    let bad = verify(dir.path(), &["--checkpoint", "nonsense"]);
    assert_ne!(bad.code, 0);
}

#[tokio::test]
async fn export_writes_every_record_with_its_hash_as_json_lines() {
    let (t, base, n) = written_log().await;
    let out_file: PathBuf = base.path().join("..").join(format!(
        "export-{}.jsonl",
        base.path().file_name().unwrap().to_string_lossy()
    ));
    let run = syncwarden(
        &[
            "audit",
            "export",
            "--format",
            "jsonl",
            "--output",
            out_file.to_str().unwrap(),
        ],
        base.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run
        .stderr
        .contains(&format!("exported {n} audit record(s)")));
    let text = std::fs::read_to_string(&out_file).unwrap();
    let _ = std::fs::remove_file(&out_file);
    let lines: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, t.audit());
    assert_eq!(
        syncwarden::store::audit::verify_chain(&lines),
        Ok(n),
        "an export can be verified on its own"
    );

    // --since keeps only newer records; the clock in the world never moved, so a future
    // date keeps none and an old one keeps all.
    let run = syncwarden(
        &[
            "audit",
            "export",
            "--since",
            "2099-01-01",
            "--format",
            "jsonl",
        ],
        base.path(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let run = syncwarden(&["audit", "export", "--since", "2020-01-01"], base.path());
    assert_eq!(run.stdout.lines().count() as u64, n);
}

#[tokio::test]
async fn a_daily_checkpoint_posts_the_head_hash_and_count_and_schedules_the_next() {
    use chrono::TimeZone;
    const AUDIT_CHANNEL: &str = "C0AUDIT001";
    let mut t = World::build(&[APPROVER], |s, _| {
        s.audit.checkpoint = Some((
            AUDIT_CHANNEL.into(),
            chrono::NaiveTime::from_hms_opt(0, 0, 0).unwrap(),
        ));
    })
    .await;
    let pending: Vec<_> = t
        .state
        .store
        .jobs()
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == syncwarden::store::jobs::JobKind::AuditCheckpoint)
        .collect();
    assert_eq!(pending.len(), 1, "scheduled at start-up");
    let midnight = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
    assert_eq!(pending[0].due_at, midnight);
    // Starting again (same store) does not queue a second one.
    syncwarden::checkpoint::ensure_scheduled(
        &t.state.store,
        t.state.settings.audit.checkpoint.as_ref(),
        midnight - chrono::Duration::hours(1),
    )
    .unwrap();
    assert_eq!(
        t.state
            .store
            .jobs()
            .unwrap()
            .iter()
            .filter(|j| j.kind == syncwarden::store::jobs::JobKind::AuditCheckpoint)
            .count(),
        1
    );

    let msg = t.alert("s1").await;
    t.click(&msg, "approve", APPROVER).await;
    t.run_jobs().await;
    t.fivetran();
    t.slack();
    t.clock.set(midnight - chrono::Duration::seconds(1));
    t.run_jobs().await;
    assert!(t.slack().is_empty(), "not before its time");

    t.clock.set(midnight);
    let (head_seq, head_hash) = t.state.store.audit_head().unwrap().unwrap();
    t.run_jobs().await;
    let posted = t.slack();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].method, "chat.postMessage");
    assert_eq!(posted[0].channel(), Some(AUDIT_CHANNEL));
    let shown = posted[0].body.to_string();
    assert!(shown.contains(&format!("Records: *{head_seq}*")), "{shown}");
    assert!(shown.contains(&head_hash), "{shown}");
    assert!(
        shown.contains(&format!(
            "syncwarden audit verify --checkpoint {head_seq}:{head_hash}"
        )),
        "{shown}"
    );
    assert!(shown.contains("Hash chain verified"), "{shown}");
    let record = t
        .audit()
        .into_iter()
        .find(|r| r.entry.kind == "audit_checkpoint_posted")
        .unwrap();
    assert_eq!(
        record.seq,
        head_seq + 1,
        "appended after the head it reports"
    );
    assert_eq!(record.entry.detail["head"], head_hash);
    assert_eq!(record.entry.detail["channel"], AUDIT_CHANNEL);
    let next: Vec<_> = t
        .state
        .store
        .jobs()
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == syncwarden::store::jobs::JobKind::AuditCheckpoint)
        .collect();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].due_at, midnight + chrono::Duration::days(1));
    // The posted checkpoint verifies against the stored log.
    let cp: syncwarden::store::audit::Checkpoint =
        format!("{head_seq}:{head_hash}").parse().unwrap();
    assert!(t.state.store.verify_audit(Some(cp)).unwrap().is_ok());
}

#[tokio::test]
async fn audit_list_and_events_list_show_the_stored_log_from_the_command_line() {
    let (t, base, n) = written_log().await;
    let kinds: Vec<String> = t.audit().into_iter().map(|r| r.entry.kind).collect();

    let listed = syncwarden(&["audit", "list", "--json"], base.path());
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let records: Vec<AuditRecord> = listed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as u64, n);
    assert_eq!(
        records
            .iter()
            .map(|r| r.entry.kind.clone())
            .collect::<Vec<_>>(),
        kinds
    );
    assert!(records.iter().all(|r| r.is_intact()));

    let only = syncwarden(
        &["audit", "list", "--connector", "no_such_connector"],
        base.path(),
    );
    assert_eq!(
        (only.code, only.stdout.as_str()),
        (0, ""),
        "{}",
        only.stderr
    );

    let events = syncwarden(&["events", "list"], base.path());
    assert_eq!(events.code, 0, "{}", events.stderr);
    assert_eq!(events.stdout.lines().count(), 1, "{}", events.stdout);
    assert!(events.stdout.contains("sync_end"), "{}", events.stdout);

    // A broken chain still lists, and says so with exit code 2.
    let dir = tampered(base.path(), |audit, _| {
        audit.remove(key(3)).unwrap();
    });
    let broken = syncwarden(&["audit", "list"], dir.path());
    assert_eq!(broken.code, 2, "{}", broken.stderr);
    assert_eq!(broken.stdout.lines().count() as u64, n - 1);
    assert!(
        broken.stderr.contains("audit chain broken at record 3"),
        "{}",
        broken.stderr
    );
}
