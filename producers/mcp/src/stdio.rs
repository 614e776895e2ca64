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
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
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
