//! Reading options out of `config-get`'s map: each getter returns the typed value or records a
//! [`Problem`] and returns `None`, so that every bad option is reported at once.

use serde_json::{Map, Value};

use super::{values, ConfigProblems, Problem};
use crate::proxy::Proxy;
use crate::secret::Secret;

/// Reads options out of the raw map, recording a [`Problem`] for each bad one.
pub(super) struct Reader<'a> {
    pub(super) raw: &'a Map<String, Value>,
    pub(super) problems: ConfigProblems,
}

impl Reader<'_> {
    pub(super) fn reject<T>(&mut self, option: &'static str, value: &str, problem: &str) -> Option<T> {
        self.problems.invalid.push(Problem {
            option,
            value: Some(value.to_string()),
            problem: problem.to_string(),
        });
        None
    }

    pub(super) fn check<T>(
        &mut self,
        option: &'static str,
        value: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value) {
            Ok(v) => Some(v),
            Err(problem) => self.reject(option, value, &problem),
        }
    }

    /// A problem shown without the value.
    pub(super) fn hidden<T>(&mut self, option: &'static str, problem: &str) -> Option<T> {
        self.problems.invalid.push(Problem {
            option,
            value: None,
            problem: problem.to_string(),
        });
        None
    }

    pub(super) fn check_secret(&mut self, option: &'static str, value: String) -> Option<Secret> {
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.problems.invalid.push(Problem {
                option,
                value: None,
                problem: "contains whitespace or control characters (value not shown)".into(),
            });
            return None;
        }
        Some(Secret::new(value))
    }

    pub(super) fn wrong_type<T>(&mut self, option: &'static str, value: &Value, expected: &str) -> Option<T> {
        self.reject(option, &value.to_string(), &format!("must be {expected}"))
    }

    pub(super) fn string(&mut self, option: &'static str, default: &str) -> Option<String> {
        match self.raw.get(option) {
            None | Some(Value::Null) => Some(default.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => self.wrong_type(option, other, "a string"),
        }
    }

    pub(super) fn int(&mut self, option: &'static str, default: i64, min: i64) -> Option<u32> {
        let value = match self.raw.get(option) {
            None | Some(Value::Null) => default,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(n) => n,
                None => return self.wrong_type(option, &Value::Number(n.clone()), "a whole number"),
            },
            Some(other) => return self.wrong_type(option, other, "a whole number"),
        };
        if value < min {
            let at_least = format!("must be at least {min}");
            return self.reject(option, &value.to_string(), &at_least);
        }
        match u32::try_from(value) {
            Ok(v) => Some(v),
            Err(_) => self.reject(option, &value.to_string(), "is too large"),
        }
    }

    pub(super) fn bool(&mut self, option: &'static str, default: bool) -> Option<bool> {
        match self.raw.get(option) {
            None | Some(Value::Null) => Some(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => self.wrong_type(option, other, "true or false"),
        }
    }

    /// Proxy URLs must parse, and every proxy value must reach runners intact (one problem
    /// per option); aproxy needs one of them.
    pub(super) fn check_proxy(&mut self, proxy: Proxy, use_aproxy: Option<bool>) -> Option<Proxy> {
        let mut ok = true;
        for (option, value, is_url) in [
            ("juju-http-proxy", &proxy.http, true),
            ("juju-https-proxy", &proxy.https, true),
            ("juju-no-proxy", &proxy.no_proxy, false),
        ] {
            let Some(v) = value else { continue };
            let url_problem = if is_url {
                values::parse_url(v, &["http", "https"]).err()
            } else {
                None
            };
            let problem = url_problem.or_else(|| crate::runner::files::unwritable(v).map(String::from));
            if let Some(problem) = problem {
                // A proxy URL may carry a password: the status shows it without.
                self.reject::<()>(option, &values::without_credentials(v), &problem);
                ok = false;
            }
        }
        if use_aproxy == Some(true) && proxy.http.is_none() && proxy.https.is_none() {
            self.reject::<()>(
                "experimental-use-aproxy",
                "true",
                "needs the model's proxy: set juju-http-proxy or juju-https-proxy with `juju model-config`",
            );
            ok = false;
        }
        ok.then_some(proxy)
    }
}
