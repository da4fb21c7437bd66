//! SQL pieces the read endpoints share.

/// `text` for `LIKE ... ESCAPE '!'` (and PostgreSQL's `ILIKE ... ESCAPE '!'`): its `%`, `_`
/// and `!` match themselves. `!` rather than the default `\`, whose meaning depends on
/// MariaDB's `NO_BACKSLASH_ESCAPES` mode; the same character on both servers.
pub fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            escaped.push('!');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_the_search_text_match_themselves() {
        assert_eq!(like_escaped("세브"), "세브");
        assert_eq!(like_escaped("100%_!"), "100!%!_!!");
        assert_eq!(like_escaped("50%_a\\b 간호"), "50!%!_a\\b 간호");
    }
}
