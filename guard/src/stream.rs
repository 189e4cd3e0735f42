//! Following Scimitar's revocation events: the feed to catch up at start, then the live
//! stream, resumed with `Last-Event-ID` after every disconnect, with backoff.

use std::sync::Arc;
use std::time::Duration;

use crate::error::Rejection;
use crate::revocations::Event;
use crate::view::Shared;

const MIN_BACKOFF: Duration = Duration::from_millis(100);

/// Pages through the feed from the current cursor until it is caught up.
pub async fn catch_up(shared: &Shared) -> Result<(), Rejection> {
    let unavailable = |e: String| Rejection::Unavailable(format!("feed: {e}"));
    let config = &shared.config;
    loop {
        let after = shared.cursor();
        let url = format!(
            "{}/events/v1/revocations?after={after}&limit=1000",
            config.events_base()
        );
        let response = shared
            .http
            .get(url)
            .basic_auth(&config.client_id, Some(&config.client_secret))
            .timeout(config.request_timeout)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(response.status().to_string()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let page: Page = serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))?;
        for event in &page.events {
            shared.apply(event);
        }
        shared.advance(page.next);
        if !page.more || page.events.is_empty() {
            shared.heard();
            return Ok(());
        }
    }
}

#[derive(serde::Deserialize)]
struct Page {
    events: Vec<Event>,
    next: i64,
    more: bool,
}

/// Follows the stream for as long as the guard lives.
pub async fn follow(shared: Arc<Shared>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match read_stream(&shared).await {
            // The connection delivered something before it ended: reconnect at once.
            Ok(true) => backoff = MIN_BACKOFF,
            Ok(false) => {}
            Err(error) => tracing::debug!(%error, "revocation stream failed; reconnecting"),
        }
        shared.reconnected();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(shared.config.max_backoff.max(MIN_BACKOFF));
    }
}

/// One connection: reads until it ends, fails, or stays silent for half the staleness bound
/// (Scimitar's heartbeat should have arrived by then: the connection is likely dead, and a
/// new one says so at once). Returns whether anything was heard.
async fn read_stream(shared: &Shared) -> Result<bool, String> {
    let config = &shared.config;
    let quiet = (config.stale_after / 2).max(Duration::from_millis(50));
    let request = shared
        .http
        .get(format!("{}/events/v1/stream", config.events_base()))
        .basic_auth(&config.client_id, Some(&config.client_secret))
        .header("accept", "text/event-stream")
        .header("last-event-id", shared.cursor().to_string());
    let mut response = tokio::time::timeout(quiet, request.send())
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut parser = SseParser::default();
    let mut heard = false;
    loop {
        let chunk = match tokio::time::timeout(quiet, response.chunk()).await {
            Err(_) => return Ok(heard),
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(None)) => return Ok(heard),
            Ok(Ok(Some(chunk))) => chunk,
        };
        heard = true;
        for block in parser.push(&chunk) {
            if let Some(data) = block.data {
                match serde_json::from_str::<Event>(&data) {
                    Ok(event) => shared.apply(&event),
                    Err(error) => tracing::warn!(%error, "unreadable event; skipped"),
                }
            }
            if let Some(id) = block.id {
                shared.advance(id);
            }
        }
        shared.heard();
    }
}

/// One server-sent event: its `id` and `data` (comments and heartbeats have neither).
#[derive(Debug, Default, PartialEq)]
pub struct Block {
    pub id: Option<i64>,
    pub data: Option<String>,
}

/// Splits a byte stream into server-sent events, across chunk boundaries.
#[derive(Default)]
pub struct SseParser {
    pending: String,
}

impl SseParser {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Block> {
        self.pending
            .push_str(&String::from_utf8_lossy(chunk).replace('\r', ""));
        let mut blocks = Vec::new();
        while let Some(end) = self.pending.find("\n\n") {
            let text: String = self.pending.drain(..end + 2).collect();
            let mut block = Block::default();
            for line in text.lines() {
                if let Some(id) = line.strip_prefix("id:") {
                    block.id = id.trim().parse().ok();
                } else if let Some(data) = line.strip_prefix("data:") {
                    let data = data.strip_prefix(' ').unwrap_or(data);
                    match &mut block.data {
                        Some(existing) => {
                            existing.push('\n');
                            existing.push_str(data);
                        }
                        None => block.data = Some(data.to_string()),
                    }
                }
            }
            blocks.push(block);
        }
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_across_chunks_and_comments_carry_nothing() {
        let mut parser = SseParser::default();
        let mut blocks = parser.push(b"retry: 1000\n: from 3\n\nid: 4\nevent: x\nda");
        assert_eq!(blocks, vec![Block::default()]);
        blocks = parser.push(b"ta: {\"a\":1}\r\n\r\n: keep-alive\n\n");
        assert_eq!(
            blocks,
            vec![
                Block {
                    id: Some(4),
                    data: Some("{\"a\":1}".into())
                },
                Block::default()
            ]
        );
    }
}
