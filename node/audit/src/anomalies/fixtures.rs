//! Test workloads for the anomaly rules: a log builder, China-time
//! instants from a fixed Monday, and a normal workload that no rule may
//! flag.

use credex_flows::calendar::{DAY_MS, china_midnight_ms, parse_date};
use credex_policies::HolidayCalendar;
use credex_policies::subject_id::Uscc;
use credex_protocol::RegionCode;
use credex_protocol::query::Outcome;

use super::{
    Access, AccessKind, Anomaly, AnomalyRule, Context, EntryRef, SubjectCodes, Thresholds,
    find_anomalies, subject_codes,
};

/// Valid USCCs (GB 32100 check characters computed outside this code and
/// checked by `Uscc::parse`): twelve registered in Guiyang's Nanming
/// district (`91520102`).
pub(crate) const NANMING: [&str; 12] = [
    "91520102100000008K",
    "915201021000791901",
    "91520102100158382D",
    "91520102100237574R",
    "915201021003167666",
    "91520102100395951P",
    "91520102100475142F",
    "91520102100554334U",
    "915201021006335268",
    "91520102100712718L",
    "915201021007919036",
    "9152010210087109X0",
];

/// Valid USCCs, five in each of eight districts.
pub(crate) const SPREAD: [&str; 40] = [
    "91520103107919009G",
    "9152010310799819X4",
    "915201031080773849",
    "91520103108156576M",
    "915201031082357682",
    "91440106107919009D",
    "9144010610799819X1",
    "914401061080773846",
    "91440106108156576J",
    "91440106108235768Y",
    "914403051079190099",
    "9144030510799819XW",
    "914403051080773842",
    "91440305108156576E",
    "91440305108235768T",
    "91310115107919009B",
    "9131011510799819XY",
    "913101151080773844",
    "91310115108156576G",
    "91310115108235768W",
    "91110105107919009E",
    "9111010510799819X2",
    "911101051080773847",
    "91110105108156576K",
    "911101051082357680",
    "91330106107919009J",
    "9133010610799819X6",
    "91330106108077384B",
    "91330106108156576P",
    "913301061082357684",
    "91510104107919009T",
    "9151010410799819XE",
    "91510104108077384K",
    "915101041081565760",
    "91510104108235768C",
    "914201061079190095",
    "9142010610799819XQ",
    "91420106108077384X",
    "91420106108156576A",
    "91420106108235768N",
];

/// The requesting region of the fixtures' federation queries.
pub(crate) fn guizhou() -> RegionCode {
    RegionCode::from_u32(520_000).expect("a valid region")
}

/// The responding region of the fixtures' federation queries.
pub(crate) fn guangdong() -> RegionCode {
    RegionCode::from_u32(440_000).expect("a valid region")
}

/// The working-day calendar the fixtures use.
pub(crate) fn calendar() -> HolidayCalendar {
    HolidayCalendar::builtin_2026()
}

/// `codes` parsed and keyed by their subject digests.
pub(crate) fn codes(codes: &[&str]) -> SubjectCodes {
    subject_codes(codes.iter().map(|c| Uscc::parse(c).expect("a valid USCC")))
}

/// The subject digest of a USCC.
pub(crate) fn digest_of(code: &str) -> [u8; 32] {
    let codes = codes(&[code]);
    *codes.keys().next().expect("one code")
}

/// Unix ms of `hour:minute` China time, `day` days after Monday
/// 2026-03-02.
pub(crate) fn at(day: i64, hour: i64, minute: i64) -> i64 {
    let monday = parse_date("2026-03-02").expect("a date");
    china_midnight_ms(monday) + day * DAY_MS + (hour * 60 + minute) * 60_000
}

/// `urn:credex:operator:…` of officer `name` of Guizhou.
pub(crate) fn officer(name: &str) -> String {
    format!("urn:credex:operator:520000:requester:{name}")
}

/// A granted federation query by officer `name`, received by Guangdong's
/// log `resp` at `index`.
pub(crate) fn access_at(index: u64, name: &str, subject: [u8; 32], at_ms: i64) -> Access {
    let mut query_digest = [0u8; 32];
    query_digest[..8].copy_from_slice(&index.to_be_bytes());
    Access {
        entry: EntryRef {
            log: "resp".into(),
            index,
        },
        kind: AccessKind::Received,
        at_ms,
        query_digest: Some(query_digest),
        requester: Some(officer(name)),
        approver: Some(officer("approver")),
        requester_region: guizhou(),
        responder_region: guangdong(),
        purpose: "loan".into(),
        categories: vec!["admin_penalty".into()],
        subject,
        outcome: Outcome::Granted,
    }
}

/// [`access_at`] index 0.
pub(crate) fn access(name: &str, subject: [u8; 32], at_ms: i64) -> Access {
    access_at(0, name, subject, at_ms)
}

/// A log under construction: each access gets the next index.
#[derive(Default)]
pub(crate) struct Workload {
    pub(crate) accesses: Vec<Access>,
}

impl Workload {
    /// Add a granted access; returns it to adjust.
    pub(crate) fn add(&mut self, name: &str, subject: [u8; 32], at_ms: i64) -> &mut Access {
        let index = self.accesses.len() as u64;
        self.accesses.push(access_at(index, name, subject, at_ms));
        self.accesses.last_mut().expect("just pushed")
    }

    /// Add a granted query as both logs hold it: the responder's entry
    /// (in `resp`) and the requester's (in `req`, 40 ms later).
    pub(crate) fn add_both(&mut self, name: &str, subject: [u8; 32], at_ms: i64) {
        let received = self.add(name, subject, at_ms).clone();
        self.accesses.push(Access {
            kind: AccessKind::Sent,
            at_ms: at_ms + 40,
            entry: EntryRef {
                log: "req".into(),
                index: received.entry.index,
            },
            ..received
        });
    }

    /// The entries of the accesses in `range` of this workload.
    pub(crate) fn entries(&self, range: std::ops::Range<usize>) -> Vec<EntryRef> {
        self.accesses[range]
            .iter()
            .map(|a| a.entry.clone())
            .collect()
    }
}

/// A subject digest no code maps to, distinct per (officer, day, k).
pub(crate) fn subject(officer: u8, day: i64, k: usize) -> [u8; 32] {
    let mut d = [0u8; 32];
    d[0] = 0xAA;
    d[1] = officer;
    d[2..10].copy_from_slice(&day.to_be_bytes());
    d[10..18].copy_from_slice(&(k as u64).to_be_bytes());
    d
}

/// A normal workload over `days` from Monday 2026-03-02: three officers
/// querying on working days only, between 09:00 and 17:00, at steady
/// volumes (24, 10 and 6 a day); each their own subjects, officer `a`'s
/// first five a day companies spread over eight districts; one denial a
/// day.
pub(crate) fn steady(days: i64) -> Workload {
    let calendar = calendar();
    let mut log = Workload::default();
    for day in 0..days {
        let date = credex_flows::calendar::china_date(at(day, 12, 0)).expect("a date");
        if !calendar.is_working_day(date) {
            continue;
        }
        for (o, (name, per_day)) in [("a", 24i64), ("b", 10), ("c", 6)].into_iter().enumerate() {
            for k in 0..per_day {
                let minute = k * 480 / per_day;
                let usize_k = usize::try_from(k).expect("small");
                let subject = if o == 0 && k < 5 {
                    digest_of(SPREAD[(usize::try_from(day).expect("small") * 5 + usize_k) % 40])
                } else {
                    subject(u8::try_from(o).expect("small"), day, usize_k)
                };
                let a = log.add(name, subject, at(day, 9, minute));
                if o == 2 && k == 0 {
                    a.outcome = Outcome::Denied;
                }
            }
        }
    }
    log
}

/// A context at `now_ms` with `codes`.
pub(crate) fn context<'a>(
    now_ms: i64,
    calendar: &'a HolidayCalendar,
    codes: &'a SubjectCodes,
) -> Context<'a> {
    Context {
        now_ms,
        calendar,
        subject_codes: codes,
    }
}

/// Some time after every fixture access: "now" for rules 1–4.
pub(crate) fn later() -> i64 {
    at(60, 0, 0)
}

/// The anomalies of `rule` in `accesses` as of [`later`], knowing no
/// codes, under the default thresholds.
pub(crate) fn flagged(accesses: &[Access], rule: AnomalyRule) -> Vec<Anomaly> {
    found(
        accesses,
        rule,
        later(),
        &SubjectCodes::new(),
        &Thresholds::default(),
    )
}

/// The anomalies of `rule` in `accesses` as of `now_ms`, knowing `codes`.
pub(crate) fn found(
    accesses: &[Access],
    rule: AnomalyRule,
    now_ms: i64,
    codes: &SubjectCodes,
    thresholds: &Thresholds,
) -> Vec<Anomaly> {
    let calendar = calendar();
    find_anomalies(accesses, &context(now_ms, &calendar, codes), thresholds)
        .into_iter()
        .filter(|a| a.rule == rule)
        .collect()
}
