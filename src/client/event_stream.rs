//! Server-Sent Events as labforge sends them (build logs, launch progress): `event:`, `id:` and
//! `data:` lines, an empty line ending each event, `:` lines (keep-alives) ignored.

/// One event: its name (`message` when unnamed), its id, and its data lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEvent {
    pub name: String,
    pub id: Option<String>,
    pub data: String,
}

/// Reads events out of the bytes of a stream as they arrive, in pieces of any size.
#[derive(Debug, Default)]
pub struct EventParser {
    pending: Vec<u8>,
    name: Option<String>,
    id: Option<String>,
    data: Vec<String>,
}

impl EventParser {
    /// Takes the next piece of the stream and returns the events it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<ServerEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(ServerEvent {
                        name: self.name.take().unwrap_or_else(|| "message".to_owned()),
                        id: self.id.take(),
                        data: std::mem::take(&mut self.data).join("\n"),
                    });
                }
                self.name = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.name = Some(value.to_owned()),
                "id" => self.id = Some(value.to_owned()),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_are_read_whole_and_keep_alives_are_skipped() {
        let stream = b": keep-alive\n\nevent: line\nid: 0\ndata: {\"text\":\"a\"}\n\n\
                       event: end\r\ndata: {\"status\":\"succeeded\"}\r\n\r\ndata: one\ndata: two\n\n";
        for piece in [1, 3, 7, stream.len()] {
            let mut parser = EventParser::default();
            let events: Vec<ServerEvent> = stream
                .chunks(piece)
                .flat_map(|chunk| parser.push(chunk))
                .collect();
            assert_eq!(
                events,
                vec![
                    ServerEvent {
                        name: "line".to_owned(),
                        id: Some("0".to_owned()),
                        data: "{\"text\":\"a\"}".to_owned(),
                    },
                    ServerEvent {
                        name: "end".to_owned(),
                        id: None,
                        data: "{\"status\":\"succeeded\"}".to_owned(),
                    },
                    ServerEvent {
                        name: "message".to_owned(),
                        id: None,
                        data: "one\ntwo".to_owned(),
                    },
                ],
                "read in pieces of {piece} bytes"
            );
        }
    }
}
