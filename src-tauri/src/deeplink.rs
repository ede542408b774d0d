//! Invitations: `tether://join/<channel>?server=…&token=…&name=…`.

use url::Url;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::settings::check_server_url;

/// The URL scheme the app registers.
pub const SCHEME: &str = "tether";
/// Longest link accepted.
const MAX_LINK: usize = 16 * 1024;
/// Longest token accepted.
const MAX_TOKEN: usize = 8 * 1024;

/// What an invitation asks for. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinLink {
    /// Channel to join (validated).
    pub channel: String,
    /// Server URL; `None` = the app's configured or built-in server.
    pub server: Option<String>,
    /// Join token.
    pub token: Option<String>,
    /// Display name; `None` = the remembered one.
    pub name: Option<String>,
}

impl std::fmt::Debug for JoinLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinLink")
            .field("channel", &self.channel)
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("name", &self.name)
            .finish()
    }
}

impl std::fmt::Display for JoinLink {
    /// The link without its token (for logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "channel {:?}", self.channel)?;
        if let Some(server) = &self.server {
            write!(f, " on {server}")?;
        }
        if self.token.is_some() {
            f.write_str(" (with a token)")?;
        }
        Ok(())
    }
}

fn bad_link(message: impl Into<String>) -> IpcError {
    IpcError::new(ErrorCode::InvalidLink, message)
}

/// Parse and validate an invitation link.
pub fn parse_join_link(link: &str) -> IpcResult<JoinLink> {
    let link = link.trim();
    if link.len() > MAX_LINK {
        return Err(bad_link(format!("link longer than {MAX_LINK} bytes")));
    }
    let url = Url::parse(link).map_err(|e| bad_link(format!("not a URL ({e})")))?;
    if url.scheme() != SCHEME {
        return Err(bad_link(format!(
            "not a Tether link: expected {SCHEME}://join/<channel>"
        )));
    }
    if !url
        .host_str()
        .is_some_and(|host| host.eq_ignore_ascii_case("join"))
    {
        return Err(bad_link(format!(
            "unsupported link: expected {SCHEME}://join/<channel>"
        )));
    }
    // `/demo` or `/demo/`; nothing deeper.
    let path = url.path().strip_prefix('/').unwrap_or(url.path());
    let channel = path.strip_suffix('/').unwrap_or(path);
    if channel.is_empty() {
        return Err(IpcError::new(
            ErrorCode::InvalidChannel,
            format!("the link names no channel: expected {SCHEME}://join/<channel>"),
        ));
    }
    tether_proto::validate_channel(channel)
        .map_err(|e| IpcError::new(ErrorCode::InvalidChannel, e.to_string()))?;

    let mut link = JoinLink {
        channel: channel.to_owned(),
        server: None,
        token: None,
        name: None,
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in url.query_pairs() {
        if seen.iter().any(|k| *k == key) {
            return Err(bad_link(format!("parameter {key:?} given twice")));
        }
        seen.push(key.to_string());
        let value = value.trim();
        let value = (!value.is_empty()).then(|| value.to_owned());
        match &*key {
            "server" => {
                if let Some(server) = &value {
                    check_server_url(server)?;
                }
                link.server = value;
            }
            "token" => {
                if let Some(token) = &value {
                    if token.len() > MAX_TOKEN
                        || token.chars().any(|c| c.is_control() || c.is_whitespace())
                    {
                        return Err(IpcError::new(
                            ErrorCode::InvalidToken,
                            format!("token: at most {MAX_TOKEN} bytes without spaces or control characters"),
                        ));
                    }
                }
                link.token = value;
            }
            "name" => {
                if let Some(name) = &value {
                    tether_proto::validate_name(name)
                        .map_err(|e| IpcError::new(ErrorCode::InvalidName, e.to_string()))?;
                }
                link.name = value;
            }
            other => tracing::debug!(parameter = other, "unknown deep-link parameter ignored"),
        }
    }
    Ok(link)
}

/// The deep link among command-line arguments (`tether-app 'tether://join/demo'`):
/// the first argument after the program, when it is a `tether:` URL.
pub fn link_from_args<I, S>(args: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let arg = args.into_iter().nth(1)?;
    let arg = arg.as_ref().trim();
    let scheme = arg.split_once(':')?.0;
    scheme.eq_ignore_ascii_case(SCHEME).then(|| arg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(link: &str) -> JoinLink {
        match parse_join_link(link) {
            Ok(l) => l,
            Err(e) => panic!("{link}: {e:?}"),
        }
    }

    fn code(link: &str) -> ErrorCode {
        match parse_join_link(link) {
            Ok(l) => panic!("{link} parsed as {l:?}"),
            Err(e) => e.code,
        }
    }

    #[test]
    fn channel_only() {
        assert_eq!(
            ok("tether://join/demo"),
            JoinLink {
                channel: "demo".into(),
                server: None,
                token: None,
                name: None
            }
        );
        assert_eq!(ok("tether://join/demo/").channel, "demo");
        assert_eq!(
            ok("TETHER://JOIN/Team_1.standup-2").channel,
            "Team_1.standup-2"
        );
    }

    #[test]
    fn every_parameter() {
        let link =
            ok("tether://join/demo?server=ws://10.0.0.5:7800&token=abc.def.ghi&name=Ann%20Lee");
        assert_eq!(link.channel, "demo");
        assert_eq!(link.server.as_deref(), Some("ws://10.0.0.5:7800"));
        assert_eq!(link.token.as_deref(), Some("abc.def.ghi"));
        assert!(!format!("{link:?}").contains("abc.def.ghi"));
        assert!(!link.to_string().contains("abc.def.ghi"));
        assert_eq!(link.name.as_deref(), Some("Ann Lee"));
        // `+` is a space in a query; empty values mean "not given".
        let link = ok("tether://join/demo?name=Ann+Lee&server=&token=&extra=1");
        assert_eq!(link.name.as_deref(), Some("Ann Lee"));
        assert_eq!(link.server, None);
        assert_eq!(link.token, None);
        // Percent-encoded server URL.
        let link = ok("tether://join/demo?server=ws%3A%2F%2Fcall.example.com%2Fws");
        assert_eq!(link.server.as_deref(), Some("ws://call.example.com/ws"));
    }

    #[test]
    fn bad_channels_say_so() {
        for link in [
            "tether://join/",
            "tether://join",
            "tether://join/has%20space",
            "tether://join/a/b",
            "tether://join/%C3%BCmlaut",
            &format!("tether://join/{}", "x".repeat(65)),
        ] {
            assert_eq!(code(link), ErrorCode::InvalidChannel, "{link}");
        }
        let Err(e) = parse_join_link("tether://join/a/b") else {
            panic!("accepted")
        };
        assert!(e.message.contains("invalid channel name"), "{}", e.message);
    }

    #[test]
    fn bad_links() {
        assert_eq!(code("https://join/demo"), ErrorCode::InvalidLink);
        assert_eq!(code("tether://call/demo"), ErrorCode::InvalidLink);
        assert_eq!(code("not a url"), ErrorCode::InvalidLink);
        assert_eq!(
            code("tether://join/demo?name=a&name=b"),
            ErrorCode::InvalidLink
        );
        assert_eq!(
            code(&format!("tether://join/demo?x={}", "y".repeat(20_000))),
            ErrorCode::InvalidLink
        );
        assert_eq!(
            code("tether://join/demo?server=http://example.com"),
            ErrorCode::InvalidServer
        );
        assert_eq!(
            code("tether://join/demo?server=ws://"),
            ErrorCode::InvalidServer
        );
        // No TLS yet: a wss:// link is refused up front, not at dial time.
        assert_eq!(
            code("tether://join/demo?server=wss%3A%2F%2Fcall.example.com"),
            ErrorCode::InvalidServer
        );
        assert_eq!(
            code("tether://join/demo?token=a%20b"),
            ErrorCode::InvalidToken
        );
        assert_eq!(
            code(&format!("tether://join/demo?name={}", "n".repeat(65))),
            ErrorCode::InvalidName
        );
        assert_eq!(
            code("tether://join/demo?name=a%0Ab"),
            ErrorCode::InvalidName
        );
    }

    #[test]
    fn display_hides_the_token() {
        let link = ok("tether://join/demo?token=secret-token-value");
        let shown = link.to_string();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("with a token"), "{shown}");
    }

    #[test]
    fn first_argument() {
        assert_eq!(
            link_from_args(["tether-app", "tether://join/demo?name=Ann"]).as_deref(),
            Some("tether://join/demo?name=Ann")
        );
        assert_eq!(
            link_from_args(["tether-app", "Tether://join/demo"]).as_deref(),
            Some("Tether://join/demo")
        );
        assert_eq!(link_from_args(["tether-app"]), None);
        assert_eq!(link_from_args(["tether-app", "--verbose"]), None);
        assert_eq!(link_from_args(["tether-app", "https://example.com"]), None);
    }
}
