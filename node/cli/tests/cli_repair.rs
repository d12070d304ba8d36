//! `credex repair …` end to end: publication periods and the deadlines of
//! objections and repairs (decision 0920), national and tightened by a
//! province's table, and bad input refused with the flag at fault.

#![allow(clippy::unwrap_used)]

mod common;

use common::{credex, ok};

#[test]
fn eligibility_and_deadlines_from_the_command_line() {
    for (args, says) in [
        (
            "--category admin_penalty --decided 2026-03-10 --on 2026-05-01",
            "from 2026-06-10",
        ),
        (
            "--category admin_penalty --sector fire_safety --decided 2026-03-10 --on 2026-12-04",
            "from 2027-03-10",
        ),
        (
            "--category admin_penalty --decided 2025-01-05 --on 2026-12-04",
            "publication ended on 2026-01-05",
        ),
        (
            "--category admin_penalty --penalty-type 吊销许可证件 --decided 2025-01-05 --on 2026-12-04",
            "publication ends by itself on 2028-01-05",
        ),
    ] {
        let mut all = vec!["repair", "eligibility"];
        all.extend(args.split(' '));
        let out = ok(&all);
        assert!(out.contains(says), "{args}: {out}");
    }

    // Friday 4 December 2026: accept by Tuesday the 8th, decide ten working
    // days later.
    let out = ok(&[
        "repair",
        "deadlines",
        "--procedure",
        "objection",
        "--received",
        "2026-12-04",
    ]);
    assert!(out.contains("accept or refuse by 2026-12-08"), "{out}");
    assert!(out.contains("decide by 2026-12-22"), "{out}");

    // A province's table tightens the decision to five working days.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rights.toml");
    std::fs::write(&rules, "[objections]\ndecide_working_days = 5\n").unwrap();
    let out = ok(&[
        "repair",
        "deadlines",
        "--procedure",
        "objection",
        "--received",
        "2026-12-04",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(out.contains("decide by 2026-12-15"), "{out}");

    // Loosening it, a bad date and an unknown procedure are refused.
    std::fs::write(&rules, "[objections]\ndecide_working_days = 30\n").unwrap();
    for (args, says) in [
        (
            vec![
                "repair",
                "deadlines",
                "--procedure",
                "objection",
                "--received",
                "2026-12-04",
                "--rules",
                rules.to_str().unwrap(),
            ],
            "loosens the national 10",
        ),
        (
            vec![
                "repair",
                "eligibility",
                "--category",
                "admin_penalty",
                "--decided",
                "2026-13-10",
            ],
            "--decided \"2026-13-10\"",
        ),
        (
            vec![
                "repair",
                "deadlines",
                "--procedure",
                "appeal",
                "--received",
                "2026-12-04",
            ],
            "expected objection or repair",
        ),
    ] {
        let out = credex(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
    }
}
