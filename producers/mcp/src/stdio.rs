//! The stdio framing in front of the MCP SDK: newline-delimited JSON-RPC messages in, whole
//! lines out.
//!
//! The SDK drops input that is not JSON at all without a word, so a client with a framing bug
//! waits forever for an answer. JSON-RPC 2.0 answers such input with a parse error (`-32700`,
//! `id: null`); this layer does that, refuses lines over the size limit the same way
//! (`-32600`), and hands every other line to the SDK unchanged (which answers JSON that is not
//! a request with `-32600` itself). Output from the SDK and from this layer goes through one
//! writer a whole line at a time, so answers never interleave on stdout.

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// JSON-RPC 2.0: invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: the JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;

/// Buffer between this layer and the SDK, each way.
const PIPE_BYTES: usize = 64 * 1024;

/// The SDK's side of the framing, and the tasks that move lines between it and the real
/// streams. Both tasks end once the input is at its end and the SDK has closed its output.
pub struct Framed {
    /// What the SDK reads: the client's messages that are JSON.
    pub server_input: DuplexStream,
    /// What the SDK writes: its messages, copied line by line to the real output.
    pub server_output: DuplexStream,
    pub reader: JoinHandle<()>,
    pub writer: JoinHandle<std::io::Result<()>>,
}

/// Frames `input` and `output` for the SDK; lines longer than `max_line_bytes` are refused.
pub fn frame<R, W>(input: R, output: W, max_line_bytes: usize) -> Framed
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (server_input, feed) = tokio::io::duplex(PIPE_BYTES);
    let (server_output, collect) = tokio::io::duplex(PIPE_BYTES);
    let (errors_tx, errors_rx) = mpsc::channel::<String>(64);
    let reader = tokio::spawn(read_input(input, feed, errors_tx, max_line_bytes));
    let writer = tokio::spawn(write_output(collect, errors_rx, output));
    Framed {
        server_input,
        server_output,
        reader,
        writer,
    }
}

/// A JSON-RPC error answer without an id (the request's id could not be read).
pub fn error_line(code: i64, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}).to_string()
}

/// What to do with one input line.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// Blank: nothing to do.
    Skip,
    /// JSON: for the SDK (without a byte order mark or line end).
    Forward(&'a [u8]),
    /// Not JSON: answer with this error line.
    Answer(String),
}

/// Classifies one line (without its `\n`).
pub fn classify(line: &[u8]) -> Line<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Skip;
    }
    // Read as the SDK reads it: skipping with `IgnoredAny` lets through what a `Value` refuses
    // (invalid UTF-8 inside a string, a number such as `1e999`), which the SDK drops unanswered.
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(_) => Line::Forward(line),
        Err(e) => Line::Answer(error_line(
            PARSE_ERROR,
            &format!("Parse error: not JSON ({e}); send one JSON-RPC message per line"),
        )),
    }
}

async fn read_input<R: AsyncRead + Unpin>(
    input: R,
    mut feed: DuplexStream,
    errors: mpsc::Sender<String>,
    max_line_bytes: usize,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = match read_bounded_line(&mut input, &mut line, max_line_bytes).await {
            Ok(read) => read,
            Err(err) => {
                tracing::warn!(error = %err, "mcp input unreadable, closing");
                break;
            }
        };
        let answer = match read {
            Read::End => break,
            Read::TooLong => error_line(
                INVALID_REQUEST,
                &format!("Invalid Request: message is larger than {max_line_bytes} bytes"),
            ),
            Read::Line => match classify(&line) {
                Line::Skip => continue,
                Line::Answer(answer) => answer,
                Line::Forward(message) => {
                    let written = async {
                        feed.write_all(message).await?;
                        feed.write_all(b"\n").await?;
                        feed.flush().await
                    };
                    if written.await.is_err() {
                        // The SDK stopped reading: the session is over.
                        break;
                    }
                    continue;
                }
            },
        };
        tracing::debug!("answering unreadable mcp input with a json-rpc error");
        if errors.send(answer).await.is_err() {
            break;
        }
    }
    // Dropping `feed` is the SDK's end of input.
}

enum Read {
    Line,
    TooLong,
    End,
}

/// Reads up to and without the next `\n` into `line`, never holding more than `max` bytes: the
/// rest of a longer line is read and thrown away.
async fn read_bounded_line<R: AsyncBufReadExt + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Read> {
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            // A last line without `\n` still counts.
            return Ok(if too_long {
                Read::TooLong
            } else if line.is_empty() {
                Read::End
            } else {
                Read::Line
            });
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], Some(at + 1)),
            None => (available, None),
        };
        if !too_long && line.len() + chunk.len() > max {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(chunk);
        }
        let consumed = done.unwrap_or(available.len());
        input.consume(consumed);
        if done.is_some() {
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

async fn write_output<W: AsyncWrite + Unpin>(
    collect: DuplexStream,
    mut errors: mpsc::Receiver<String>,
    mut output: W,
) -> std::io::Result<()> {
    let mut lines = BufReader::new(collect).lines();
    let mut sdk_open = true;
    loop {
        let line = tokio::select! {
            line = lines.next_line(), if sdk_open => match line? {
                Some(line) => line,
                None => {
                    sdk_open = false;
                    continue;
                }
            },
            answer = errors.recv() => match answer {
                Some(answer) => answer,
                None if sdk_open => {
                    // The reader is done; the SDK still answers what it has.
                    match lines.next_line().await? {
                        Some(line) => line,
                        None => break,
                    }
                }
                None => break,
            },
        };
        output.write_all(line.as_bytes()).await?;
        output.write_all(b"\n").await?;
        output.flush().await?;
    }
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn lines_are_forwarded_skipped_or_answered() {
        assert_eq!(classify(b"  \r"), Line::Skip);
        assert_eq!(
            classify(b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\"}\r"),
            Line::Forward(b"{\"jsonrpc\":\"2.0\"}")
        );
        assert_eq!(classify(b"[1, 2]"), Line::Forward(b"[1, 2]"));
        let Line::Answer(answer) = classify(b"{\"jsonrpc\": \"2.0\", ") else {
            panic!("not answered");
        };
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["code"], PARSE_ERROR);
        assert_eq!(answer["id"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn long_lines_are_refused_and_the_next_line_still_read() {
        let input = format!("{}\n{{\"a\":1}}\nnot json\n{{\"b\":2}}", "x".repeat(100));
        let (mut client, server) = tokio::io::duplex(4096);
        let framed = frame(std::io::Cursor::new(input.into_bytes()), server, 50);
        let mut sdk_in = framed.server_input;
        let mut forwarded = String::new();
        sdk_in.read_to_string(&mut forwarded).await.unwrap();
        assert_eq!(forwarded, "{\"a\":1}\n{\"b\":2}\n");
        drop(framed.server_output);
        framed.writer.await.unwrap().unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        let codes: Vec<i64> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["error"]["code"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(codes, [INVALID_REQUEST, PARSE_ERROR]);
    }

    #[tokio::test]
    async fn sdk_lines_reach_the_output_whole() {
        let (mut client, server) = tokio::io::duplex(4096);
        let framed = frame(&b""[..], server, 1024);
        let mut sdk_out = framed.server_output;
        sdk_out.write_all(b"{\"id\":1}\n{\"id\"").await.unwrap();
        sdk_out.write_all(b":2}\n").await.unwrap();
        drop(sdk_out);
        framed.writer.await.unwrap().unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "{\"id\":1}\n{\"id\":2}\n");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use tokio::io::AsyncReadExt;

    const MAX: usize = 200;

    /// One input line (without `\n`), biased to what the framing looks at.
    fn line() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            prop::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 1..6),
            prop::sample::select(vec![
                &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"[..],
                b"{",
                b"}",
                b"[",
                b"]",
                b"\"",
                b"\r",
                b"\xEF\xBB\xBF",
                b" ",
                b"\t",
                b"\0",
                b"null",
                b"1e999",
                b"\\u0000",
            ])
            .prop_map(<[u8]>::to_vec),
        ];
        prop_oneof![
            prop::collection::vec(piece, 0..6).prop_map(|p| p.concat()),
            // Lines over the limit.
            (MAX - 2..MAX * 3).prop_map(|n| vec![b'x'; n]),
        ]
    }

    /// What the framing must do with `line`: forward it, skip it, or answer with an error code.
    fn expected(line: &[u8]) -> Option<Result<Vec<u8>, i64>> {
        if line.len() > MAX {
            return Some(Err(INVALID_REQUEST));
        }
        match classify(line) {
            Line::Skip => None,
            Line::Forward(json) => Some(Ok(json.to_vec())),
            Line::Answer(_) => Some(Err(PARSE_ERROR)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(rae_core::proptest_cases(512)))]

        /// Any line is skipped (blank), forwarded (JSON) or answered with a parse error.
        #[test]
        fn any_line_is_skipped_forwarded_or_answered(line in prop_oneof![line(), prop::collection::vec(any::<u8>(), 0..64)]) {
            match classify(&line) {
                Line::Skip => prop_assert!(line.iter().all(|b| b.is_ascii_whitespace() || line.starts_with(b"\xEF\xBB\xBF"))),
                Line::Forward(json) => {
                    // What the SDK reads: UTF-8 JSON.
                    prop_assert!(serde_json::from_slice::<serde_json::Value>(json).is_ok(), "{:?}", String::from_utf8_lossy(json));
                    prop_assert!(!json.ends_with(b"\r"));
                }
                Line::Answer(answer) => {
                    let answer: serde_json::Value = serde_json::from_str(&answer)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&answer["jsonrpc"], "2.0");
                    prop_assert_eq!(&answer["id"], &serde_json::Value::Null);
                    prop_assert_eq!(&answer["error"]["code"], PARSE_ERROR);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(rae_core::proptest_cases(64)))]

        /// Through the whole framing: JSON lines reach the SDK in order, every other line is
        /// answered on the output in order, and no line is lost or split.
        #[test]
        fn framing_forwards_json_and_answers_the_rest_in_order(
            lines in prop::collection::vec(line(), 0..8),
            last_newline in any::<bool>(),
        ) {
            let mut input = lines.join(&b'\n');
            if last_newline && !lines.is_empty() {
                input.push(b'\n');
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (forwarded, codes) = runtime.block_on(async {
                let (mut client, server) = tokio::io::duplex(1 << 20);
                let framed = frame(std::io::Cursor::new(input), server, MAX);
                let mut sdk_in = framed.server_input;
                let mut forwarded = Vec::new();
                sdk_in.read_to_end(&mut forwarded).await.unwrap_or_default();
                drop(framed.server_output);
                let _ = framed.writer.await;
                let mut out = String::new();
                client.read_to_string(&mut out).await.unwrap_or_default();
                let codes: Vec<i64> = out
                    .lines()
                    .map(|l| {
                        serde_json::from_str::<serde_json::Value>(l).unwrap_or_default()["error"]["code"]
                            .as_i64()
                            .unwrap_or(0)
                    })
                    .collect();
                (forwarded, codes)
            });
            // A trailing empty piece after the last `\n` is no line.
            let mut want_forwarded = Vec::new();
            let mut want_codes = Vec::new();
            for line in &lines {
                match expected(line) {
                    None => {}
                    Some(Ok(json)) => {
                        want_forwarded.extend_from_slice(&json);
                        want_forwarded.push(b'\n');
                    }
                    Some(Err(code)) => want_codes.push(code),
                }
            }
            prop_assert_eq!(String::from_utf8_lossy(&forwarded), String::from_utf8_lossy(&want_forwarded));
            prop_assert_eq!(codes, want_codes);
        }
    }

    /// The odd inputs of issue 21 as MCP lines: NUL and other C0 bytes, a lone CR or byte
    /// order mark, invalid UTF-8, a 100 KB line.
    #[tokio::test]
    async fn odd_inputs_get_their_documented_answers() {
        let answered = |line: &[u8]| matches!(classify(line), Line::Answer(_));
        assert!(answered(b"\0"));
        assert!(answered(b"{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\0"));
        assert!(
            answered(b"{\"a\":\"\x01\"}"),
            "a raw control byte in a string is not JSON"
        );
        assert!(answered(b"{\"a\":\"\xff\"}"), "invalid UTF-8 is not JSON");
        assert!(answered(b"\x1b[31m"));
        // Shrunk by `any_line_is_skipped_forwarded_or_answered`: forwarded, then dropped by the
        // SDK without an answer.
        assert!(answered(b"1e999"));
        assert!(answered(
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"params\":[-1e400]}"
        ));
        assert_eq!(classify(b"\r"), Line::Skip);
        assert_eq!(classify(b"\xEF\xBB\xBF"), Line::Skip);
        assert_eq!(
            classify(b"{\"a\":\"\\u0000\"}"),
            Line::Forward(b"{\"a\":\"\\u0000\"}")
        );

        let line = "x".repeat(100 * 1024);
        let input = format!("{line}\n{{\"id\":1}}\n");
        let (mut client, server) = tokio::io::duplex(4096);
        let framed = frame(std::io::Cursor::new(input.into_bytes()), server, 64 * 1024);
        let mut forwarded = String::new();
        let mut sdk_in = framed.server_input;
        sdk_in.read_to_string(&mut forwarded).await.unwrap();
        assert_eq!(forwarded, "{\"id\":1}\n");
        drop(framed.server_output);
        framed.writer.await.unwrap().unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        let answer: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(answer["error"]["code"], INVALID_REQUEST);
    }
}
