//! The link between two stages: a bounded queue (every item, in order, the sender waiting when it
//! is full) or a latest-wins [`Mailbox`] (the newest item, the sender never waiting).
//! Either side dropping its end closes the link.

use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{self, RecvTimeoutError};

use super::handoff::Mailbox;

/// How a link passes items on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Every item in order, at most this many waiting (0: the sender waits for the receiver).
    Queue(usize),
    /// One slot; a new item replaces the one not yet taken.
    Latest,
}

/// The sending end.
pub enum Sender<T> {
    Queue(channel::Sender<T>),
    Latest(Arc<Mailbox<T>>),
}

/// The receiving end.
pub enum Receiver<T> {
    Queue(channel::Receiver<T>),
    Latest(Arc<Mailbox<T>>),
}

/// What a receive without waiting long found.
pub enum Received<T> {
    Item(T),
    Empty,
    Closed,
}

/// A new link of `kind`.
pub fn link<T>(kind: LinkKind) -> (Sender<T>, Receiver<T>) {
    match kind {
        LinkKind::Queue(depth) => {
            let (tx, rx) = channel::bounded(depth);
            (Sender::Queue(tx), Receiver::Queue(rx))
        }
        LinkKind::Latest => {
            let mailbox = Arc::new(Mailbox::new());
            (Sender::Latest(mailbox.clone()), Receiver::Latest(mailbox))
        }
    }
}

impl<T> Sender<T> {
    /// Passes `item` on; `false` once the receiver is gone.
    pub fn send(&self, item: T) -> bool {
        match self {
            Sender::Queue(tx) => tx.send(item).is_ok(),
            Sender::Latest(mailbox) => mailbox.put(item),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Sender::Latest(mailbox) = self {
            mailbox.close();
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for the next item; `None` once the sender is gone and nothing is left.
    pub fn recv(&self) -> Option<T> {
        match self {
            Receiver::Queue(rx) => rx.recv().ok(),
            Receiver::Latest(mailbox) => mailbox.take(),
        }
    }

    /// Waits at most `wait` for the next item.
    pub fn recv_within(&self, wait: Duration) -> Received<T> {
        match self {
            Receiver::Queue(rx) => match rx.recv_timeout(wait) {
                Ok(item) => Received::Item(item),
                Err(RecvTimeoutError::Timeout) => Received::Empty,
                Err(RecvTimeoutError::Disconnected) => Received::Closed,
            },
            Receiver::Latest(mailbox) => match mailbox.take_within(wait) {
                Some(item) => Received::Item(item),
                None if mailbox.is_finished() => Received::Closed,
                None => Received::Empty,
            },
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Receiver::Latest(mailbox) = self {
            mailbox.close();
        }
    }
}
