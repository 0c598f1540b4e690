//! Command-line parsing as Juju's gnuflag does it: `--long`, `--long=value`, `--long value`,
//! `-x value`, flags anywhere among the arguments, `--` to end them, and booleans that take
//! Go's `strconv.ParseBool` words (`--application=False`).

use std::collections::BTreeMap;

/// The flags a tool accepts, by name without dashes (`format`, `l`, `log-level`).
pub struct Spec {
    pub bools: &'static [&'static str],
    pub values: &'static [&'static str],
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub flags: BTreeMap<String, String>,
    pub args: Vec<String>,
    pub help: bool,
}

impl Parsed {
    pub fn flag(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.flags.get(*n)).map(String::as_str)
    }

    pub fn bool(&self, names: &[&str]) -> bool {
        self.flag(names) == Some("true")
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses `args`; the error is the usage message Juju would print after `ERROR `.
pub fn parse(args: &[String], spec: &Spec) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            parsed.args.extend(iter.by_ref().cloned());
            break;
        }
        if arg.len() < 2 || !arg.starts_with('-') {
            parsed.args.push(arg.clone());
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        if name == "help" || name == "h" {
            parsed.help = true;
        } else if spec.bools.contains(&name) {
            let value = match inline {
                None => true,
                Some(v) => parse_bool(v).ok_or_else(|| format!("invalid boolean value {v:?} for flag {arg}"))?,
            };
            parsed.flags.insert(name.to_string(), value.to_string());
        } else if spec.values.contains(&name) {
            let value = match inline {
                Some(v) => v.to_string(),
                None => iter
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("flag needs an argument: {arg}"))?,
            };
            parsed.flags.insert(name.to_string(), value);
        } else {
            let dashes = &arg[..arg.len() - body.len()];
            return Err(format!("flag provided but not defined: {dashes}{name}"));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        bools: &["application"],
        values: &["format", "l", "log-level"],
    };

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_may_come_anywhere_and_double_dash_ends_them() {
        let p = parse(
            &args(&["x", "--format=json", "-l", "INFO", "--", "--not-a-flag"]),
            &SPEC,
        )
        .expect("parses");
        assert_eq!(p.flag(&["format"]), Some("json"));
        assert_eq!(p.flag(&["l", "log-level"]), Some("INFO"));
        assert_eq!(p.args, ["x", "--not-a-flag"]);
    }

    #[test]
    fn booleans_take_go_words() {
        let p = parse(&args(&["--application=False"]), &SPEC).expect("parses");
        assert!(!p.bool(&["application"]));
        assert!(parse(&args(&["--application=maybe"]), &SPEC).is_err());
    }

    #[test]
    fn unknown_flags_are_named() {
        let err = parse(&args(&["--foo"]), &SPEC).expect_err("unknown");
        assert_eq!(err, "flag provided but not defined: --foo");
    }
}
