//! An error with its causes, `a: b: c`, as operators need it: reqwest's own message alone is
//! "error sending request for url (…)", the reason ("Connection refused") is in its sources.

/// `e` and each of its sources, joined by `: `, skipping a cause its parent already quoted.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
