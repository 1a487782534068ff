//! The flags of every command, as the built binary parses them: one style
//! (TensorFlow's `--output_node_names` shown, `--output-node-names` accepted
//! too, for every multi-word flag), and numbers out of range refused as usage
//! errors before any work starts, never an abort.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::cli::{every_command, long_flags};
use common::{root, tf_strip};

fn run(sub: Option<&str>, args: &[&str]) -> Output {
    tf_strip().args(sub).args(args).output().expect("run tf-strip")
}

fn multi_word(name: &str) -> bool {
    name.contains(['_', '-'])
}

#[test]
fn help_shows_every_multi_word_flag_with_underscores_and_its_dashed_twin_as_alias() {
    for sub in every_command() {
        for names in long_flags(sub.as_deref()) {
            let primary = &names[0];
            assert!(!primary.contains('-'), "{sub:?}: --{primary} is shown with dashes");
            for name in names.iter().filter(|n| multi_word(n)) {
                for twin in [name.replace('-', "_"), name.replace('_', "-")] {
                    assert!(names.contains(&twin), "{sub:?}: --{name} has no twin --{twin} in {names:?}");
                }
            }
        }
    }
}

/// Both spellings parse the same: `SUB --flag --help` shows the help for a
/// switch, and for a flag that takes a value says the same "a value is
/// required" either way; an unknown spelling would be "unexpected argument".
#[test]
fn every_multi_word_flag_of_every_command_is_accepted_in_both_spellings() {
    let mut checked = 0;
    for sub in every_command() {
        for names in long_flags(sub.as_deref()) {
            for name in names.iter().filter(|n| n.contains('_')) {
                let [underscores, dashes] = [name.clone(), name.replace('_', "-")].map(|n| run(sub.as_deref(), &[&format!("--{n}"), "--help"]));
                let stderr = String::from_utf8_lossy(&dashes.stderr);
                assert!(!stderr.contains("unexpected argument"), "{sub:?} --{name} with dashes: {stderr}");
                assert_eq!(underscores.status.code(), dashes.status.code(), "{sub:?} --{name}: {stderr}");
                assert_eq!(underscores.stdout, dashes.stdout, "{sub:?} --{name}");
                assert_eq!(String::from_utf8_lossy(&underscores.stderr), stderr, "{sub:?} --{name}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} multi-word flags found in the help");
}

/// clap's usage error for `args`: exit 2, its `error:` line naming `flag`, no panic.
fn assert_refused(args: &[&str], flag: &str) {
    let out = tf_strip().args(args).output().expect("run tf-strip");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    assert!(errors[0].starts_with("error: invalid value") && errors[0].contains(flag), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn numbers_out_of_range_are_usage_errors_naming_the_flag() {
    let pb = root().join("testdata/mlp90/expected/stripped.pb");
    let pb = pb.to_str().unwrap();
    let out = std::env::temp_dir().join("tf-strip-flags-never-written.tfsparse");
    let out = out.to_str().unwrap();
    let verify = ["verify", pb, pb];
    let bench = ["bench", pb];
    let cases: Vec<(Vec<&str>, &[&str], &str)> = vec![
        (verify.to_vec(), &["--batch", "0"], "--batch"),
        (verify.to_vec(), &["--iterations", "0"], "--iterations"),
        (verify.to_vec(), &["--atol", "-1"], "--atol"),
        (verify.to_vec(), &["--rtol", "nan"], "--rtol"),
        (verify.to_vec(), &["--atol=inf"], "--atol"),
        (verify.to_vec(), &["--threads", "0"], "--threads"),
        (verify.to_vec(), &["--threads", "100000"], "--threads"),
        (verify.to_vec(), &["--input_shapes", "input:0,64"], "--input_shapes"),
        (verify.to_vec(), &["--input_shapes", "input:99999999999999999999,64"], "--input_shapes"),
        (bench.to_vec(), &["--runs", "0"], "--runs"),
        (bench.to_vec(), &["--batch", "1,0"], "--batch"),
        (bench.to_vec(), &["--seconds", "0"], "--seconds"),
        (bench.to_vec(), &["--seconds", "-2"], "--seconds"),
        (bench.to_vec(), &["--loads", "0"], "--loads"),
        (vec!["encode", pb, out], &["--level", "23"], "--level"),
        (vec!["encode", pb, out], &["--level", "-200000"], "--level"),
        (vec!["compact", pb, out], &["--round_to", "0"], "--round_to"),
    ];
    for (command, flag_and_value, flag) in cases {
        assert_refused(&[command.as_slice(), flag_and_value].concat(), flag);
    }
    assert!(!std::path::Path::new(out).exists());
}

#[test]
fn negative_and_zero_zstd_levels_are_zstds_own() {
    let tmp = tempfile::tempdir().unwrap();
    let pb = root().join("testdata/mlp90/expected/stripped.pb");
    for level in ["-5", "0", "22"] {
        let out = tmp.path().join(format!("level{level}.tfsparse"));
        let run = tf_strip().args(["encode", "--level", level]).arg(&pb).arg(&out).output().unwrap();
        common::assert_succeeded(&run, &format!("encode --level {level}"));
    }
}

/// A `--batch` whose inputs cannot be allocated: one line of ours, exit 2,
/// quickly, where it once aborted (`memory allocation of ... failed`, 134).
#[test]
fn a_batch_too_large_to_allocate_is_one_usage_error_not_an_abort() {
    let pb = root().join("testdata/mlp90/expected/stripped.pb");
    let pb = pb.to_str().unwrap();
    for (args, batch) in [(vec!["verify", pb, pb], "100000000000"), (vec!["bench", pb], "100000000000"), (vec!["verify", pb, pb], "18446744073709551615")] {
        let start = Instant::now();
        let out = tf_strip().args(&args).args(["--batch", batch]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} --batch {batch}: {stderr}");
        // TensorFlow may log its own start-up before our line.
        let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("tf-strip")).collect();
        assert_eq!(ours.len(), 1, "{stderr}");
        assert!(ours[0].starts_with("tf-strip: error: input `input` of shape [") && ours[0].contains("--batch"), "{stderr}");
        assert!(start.elapsed() < Duration::from_secs(60), "{args:?} --batch {batch} took {:?}", start.elapsed());
    }
}
