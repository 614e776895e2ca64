//! The message text after DATA (RFC 5321 §4.1.1.4, §4.5.2), fed as it arrives, without I/O.
//!
//! Only `<CRLF>.<CRLF>` ends the data, and a line starts only after a CRLF. A bare LF or a bare
//! CR anywhere marks the message as refused but never ends it: were `<LF>.<LF>` or
//! `<CR>.<CR>` taken as the end, as some servers do, whatever follows in the same write would
//! run as commands of a new transaction ("SMTP smuggling"). Reading on to the real end keeps the
//! session in step with a sender that meant it as text.
//!
//! Every byte of the message (after dot-unstuffing) counts against the size limit, however
//! long its lines; past the limit the bytes are still read, but no longer kept.

/// What the data turned out to be, once its end arrived.
#[derive(Debug, PartialEq, Eq)]
pub enum Data {
    /// The message, dot-unstuffed, with CRLF line ends.
    Message(Vec<u8>),
    /// Larger than the limit: answered 552.
    TooBig,
    /// A bare LF or CR in the data: answered 550.
    BareLineEnd,
}

/// Where the reader is relative to the line structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// After a CRLF (or at the start): a `.` here may end the data or be stuffed.
    LineStart,
    /// A `.` at the start of a line.
    Dot,
    /// `.` and CR at the start of a line: LF ends the data.
    DotCr,
    /// Inside a line.
    Text,
    /// A CR inside a line: LF ends the line.
    Cr,
}

/// Reads the data of one message; [`DataReader::feed`] takes bytes until the end arrives.
#[derive(Debug)]
pub struct DataReader {
    max: usize,
    kept: Vec<u8>,
    /// Bytes of the message so far, kept or not.
    size: usize,
    state: State,
    bare: bool,
    /// Lines ended so far, so the caller can give each line its own timeout.
    lines: u64,
}

impl DataReader {
    /// A reader for a message of at most `max` bytes.
    pub fn new(max: usize) -> DataReader {
        DataReader {
            max,
            kept: Vec::new(),
            size: 0,
            state: State::LineStart,
            bare: false,
            lines: 0,
        }
    }

    /// Lines ended so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Takes `input`; returns how many of its bytes belong to the data, and the data once its
    /// end is among them (the bytes after it are the next commands, not consumed).
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Data>) {
        let mut i = 0;
        while let Some(rest) = input.get(i..).filter(|r| !r.is_empty()) {
            if self.state == State::Text {
                // Runs of plain text are copied at once; only CR and LF need the states.
                let run = rest
                    .iter()
                    .position(|b| matches!(b, b'\r' | b'\n'))
                    .unwrap_or(rest.len());
                let (plain, after) = rest.split_at(run);
                self.keep(plain);
                i += run;
                if after.is_empty() {
                    break;
                }
            }
            let Some(&byte) = input.get(i) else { break };
            i += 1;
            if self.step(byte) {
                return (i, Some(self.finish()));
            }
        }
        (input.len(), None)
    }

    /// One byte through the states; true at the end of the data.
    fn step(&mut self, byte: u8) -> bool {
        match (self.state, byte) {
            (State::LineStart, b'.') => self.state = State::Dot,
            (State::Dot, b'\r') => self.state = State::DotCr,
            (State::DotCr, b'\n') => return true,
            // `.` and CR, then something else: the CR is bare.
            (State::DotCr, _) => {
                self.bare = true;
                self.keep(b"\r");
                self.text(byte);
            }
            // A stuffed dot: dropped (RFC 5321 §4.5.2).
            (State::LineStart | State::Dot | State::Text, _) => self.text(byte),
            (State::Cr, b'\n') => {
                self.keep(b"\r\n");
                self.lines += 1;
                self.state = State::LineStart;
            }
            (State::Cr, _) => {
                self.bare = true;
                self.keep(b"\r");
                self.text(byte);
            }
        }
        false
    }

    /// A byte inside a line. A bare LF is kept as text: it neither ends the line nor starts
    /// one, so a `.` after it ends nothing.
    fn text(&mut self, byte: u8) {
        match byte {
            b'\r' => self.state = State::Cr,
            b'\n' => {
                self.bare = true;
                self.keep(b"\n");
                self.state = State::Text;
            }
            _ => {
                self.keep(&[byte]);
                self.state = State::Text;
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len());
        if self.size > self.max {
            // Read on to the end, keep nothing more.
            self.kept = Vec::new();
        } else {
            self.kept.extend_from_slice(bytes);
        }
    }

    fn finish(&mut self) -> Data {
        if self.bare {
            Data::BareLineEnd
        } else if self.size > self.max {
            Data::TooBig
        } else {
            Data::Message(std::mem::take(&mut self.kept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `chunk` bytes; the data and the bytes left after it.
    fn read(max: usize, input: &[u8], chunk: usize) -> (Option<Data>, Vec<u8>) {
        let mut reader = DataReader::new(max);
        let mut at = 0;
        while at < input.len() {
            let end = (at + chunk).min(input.len());
            let (used, data) = reader.feed(&input[at..end]);
            at += used;
            if data.is_some() {
                return (data, input[at..].to_vec());
            }
        }
        (None, Vec::new())
    }

    fn message(bytes: &[u8]) -> Option<Data> {
        Some(Data::Message(bytes.to_vec()))
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_leaves_the_next_commands() {
        for chunk in [1, 2, 3, 7, 1024] {
            let (data, rest) = read(1000, b"Subject: a\r\n\r\nbody\r\n.\r\nQUIT\r\n", chunk);
            assert_eq!(
                data,
                message(b"Subject: a\r\n\r\nbody\r\n"),
                "chunk {chunk}"
            );
            assert_eq!(rest, b"QUIT\r\n", "chunk {chunk}");
        }
        assert_eq!(read(10, b".\r\n", 1).0, message(b""));
    }

    #[test]
    fn stuffed_dots_are_removed() {
        let (data, _) = read(1000, b"..leading\r\n.\r.\r\n..\r\n.\r\n", 1);
        assert_eq!(data, Some(Data::BareLineEnd));
        let (data, _) = read(1000, b"..leading\r\n...\r\n..\r\n.\r\n", 2);
        assert_eq!(data, message(b".leading\r\n..\r\n.\r\n"));
    }

    #[test]
    fn bare_line_ends_never_end_the_data_and_refuse_the_message() {
        let smuggled =
            b"MAIL FROM:<m@example.com>\r\nRCPT TO:<memories+beta@example.com>\r\nDATA\r\nx\r\n";
        for shape in [
            &b"\n.\n"[..],
            b"\n.\r\n",
            b"\r\n.\n",
            b"\r.\r",
            b"\r\n.\r",
            b"\n.\r",
        ] {
            for chunk in [1, 5, 4096] {
                let mut input = b"text".to_vec();
                input.extend_from_slice(shape);
                input.extend_from_slice(smuggled);
                input.extend_from_slice(b".\r\nNOOP\r\n");
                let (data, rest) = read(1000, &input, chunk);
                assert_eq!(data, Some(Data::BareLineEnd), "{shape:?} chunk {chunk}");
                assert_eq!(rest, b"NOOP\r\n", "{shape:?} chunk {chunk}");
            }
        }
    }

    #[test]
    fn a_bare_cr_or_lf_anywhere_refuses_the_message() {
        for input in [&b"a\nb\r\n.\r\n"[..], b"a\rb\r\n.\r\n", b"a\r\r\n.\r\n"] {
            assert_eq!(read(1000, input, 3).0, Some(Data::BareLineEnd), "{input:?}");
        }
    }

    #[test]
    fn long_lines_are_kept_whole() {
        let line = vec![b'x'; 300_000];
        let mut input = line.clone();
        input.extend_from_slice(b"\r\n.\r\n");
        let mut want = line;
        want.extend_from_slice(b"\r\n");
        assert_eq!(read(400_000, &input, 65_536).0, message(&want));
    }

    #[test]
    fn every_byte_counts_against_the_limit() {
        let line = [vec![b'y'; 70_000], b"\r\n".to_vec()].concat();
        let mut input = line.repeat(16);
        input.extend_from_slice(b".\r\nNOOP\r\n");
        let (data, rest) = read(1_000_000, &input, 8192);
        assert_eq!(data, Some(Data::TooBig));
        assert_eq!(rest, b"NOOP\r\n");
        // Exactly the limit fits.
        let (data, _) = read(line.len() * 16, &input, 8192);
        assert!(matches!(data, Some(Data::Message(m)) if m.len() == line.len() * 16));
    }

    #[test]
    fn lines_are_counted_for_their_timeouts() {
        let mut reader = DataReader::new(100);
        reader.feed(b"a\r\nb\r");
        assert_eq!(reader.lines(), 1);
        reader.feed(b"\n");
        assert_eq!(reader.lines(), 2);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `input` cut at `cuts` (offsets, any order); the data, the bytes consumed and the
    /// lines counted.
    fn read_cut(
        max: usize,
        input: &[u8],
        cuts: &[prop::sample::Index],
    ) -> (Option<Data>, usize, u64) {
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        ends.push(input.len());
        ends.sort_unstable();
        let mut reader = DataReader::new(max);
        let mut at = 0;
        for end in ends {
            while at < end {
                let (used, data) = reader.feed(&input[at..end]);
                at += used;
                if data.is_some() {
                    return (data, at, reader.lines());
                }
            }
        }
        (None, at, reader.lines())
    }

    /// Lines of text without CR or LF, some starting with dots.
    fn lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let line = prop_oneof![
            prop::collection::vec(
                any::<u8>().prop_filter("no line ends", |b| *b != b'\r' && *b != b'\n'),
                0..40
            ),
            prop::sample::select(vec![
                &b"."[..],
                b"..",
                b".x",
                b"",
                b"\0",
                b"\x1b[31m",
                b"MAIL FROM:<a@b>"
            ])
            .prop_map(<[u8]>::to_vec),
        ];
        prop::collection::vec(line, 0..12)
    }

    /// The message as a sender puts it on the wire: dot-stuffed, CRLF line ends, `.` CRLF.
    fn wire(lines: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            if line.first() == Some(&b'.') {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    fn message(lines: &[Vec<u8>]) -> Vec<u8> {
        lines
            .iter()
            .flat_map(|l| [&l[..], b"\r\n"].concat())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(rae_core::proptest_cases(512)))]

        #[test]
        fn any_chunking_of_any_input_gives_the_same_result(
            input in prop::collection::vec(prop_oneof![any::<u8>(), prop::sample::select(vec![b'\r', b'\n', b'.'])], 0..300),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
            max in 0usize..400,
        ) {
            let whole = read_cut(max, &input, &[]);
            prop_assert_eq!(read_cut(max, &input, &cuts), whole);
        }

        #[test]
        fn a_sent_message_reads_back_whole_and_leaves_the_next_commands(
            lines in lines(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
            after in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let sent = wire(&lines);
            let mut input = sent.clone();
            input.extend_from_slice(&after);
            let want = message(&lines);
            let (data, used, counted) = read_cut(usize::MAX, &input, &cuts);
            prop_assert_eq!(data, Some(Data::Message(want.clone())));
            prop_assert_eq!(used, sent.len());
            prop_assert_eq!(counted, lines.len() as u64);
            // Size accounting is exact: the message fits a limit of its own size, not one less.
            let (data, _, _) = read_cut(want.len(), &input, &cuts);
            prop_assert_eq!(data, Some(Data::Message(want.clone())));
            if !want.is_empty() {
                let (data, used, _) = read_cut(want.len() - 1, &input, &cuts);
                prop_assert_eq!(data, Some(Data::TooBig));
                prop_assert_eq!(used, sent.len());
            }
        }

        #[test]
        fn a_bare_cr_or_lf_anywhere_refuses_the_message(
            lines in lines(),
            at in any::<prop::sample::Index>(),
            bare in prop::sample::select(vec![&b"\r"[..], b"\n", b"\n.\n", b"\r.\r", b"\n.\r\n"]),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
            max in prop_oneof![Just(usize::MAX), 0usize..100],
        ) {
            let sent = wire(&lines);
            // Anywhere before the final `.` CRLF; the data must still end, at the latest at a
            // CRLF `.` CRLF sent after it.
            let body_len = sent.len() - 3;
            let mut at = at.index(body_len + 1);
            if bare[0] == b'\n' && at > 0 && sent[at - 1] == b'\r' {
                // Between a CR and its LF, a LF would complete that CRLF: put it after the pair.
                at += 1;
            }
            let mut input = sent[..at].to_vec();
            input.extend_from_slice(bare);
            input.extend_from_slice(&sent[at..]);
            input.extend_from_slice(b"\r\n.\r\nNOOP\r\n");
            let (data, used, _) = read_cut(max, &input, &cuts);
            prop_assert_eq!(data, Some(Data::BareLineEnd));
            prop_assert!(input[..used].ends_with(b"\r\n.\r\n"));
        }
    }
}
