//! How decoding an input went: frames returned and what was lost on the way.

/// How decoding went; complete once [`Input::next_event`](super::Input::next_event) has returned `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ending {
    /// Video frames returned.
    pub frames: u64,
    /// The error that ended reading early (a truncated file, a network or device failure).
    pub read_error: Option<String>,
    /// Video packets or frames the decoder rejected.
    pub decode_errors: u64,
    /// The first decoder error.
    pub first_decode_error: Option<String>,
    /// Frames the decoder marked as damaged or patched up from their neighbours (returned
    /// anyway).
    pub corrupt_frames: u64,
    /// Whether reading was stopped through [`Input::set_interrupt`](super::Input::set_interrupt).
    pub interrupted: bool,
    /// Frames the input said it had, or that its duration and frame rate promise.
    pub expected_frames: Option<u64>,
    /// Whether `expected_frames` is an estimate from the duration (one frame more or less is
    /// then no loss).
    pub expected_is_estimate: bool,
}

impl Ending {
    /// Whether anything was lost: a read error, decoder errors, damaged frames, or fewer frames
    /// than the input announced (an interruption on request is not a loss).
    pub fn is_clean(&self) -> bool {
        self.problem().is_none()
    }

    /// How many frames were damaged or missing: those returned damaged, and those lost (fewer
    /// than announced, or one per packet the decoder rejected, whichever is more).
    pub fn lost_frames(&self) -> u64 {
        let slack = u64::from(self.expected_is_estimate);
        let missing = match self.expected_frames {
            Some(expected) if !self.interrupted && self.frames + slack < expected => {
                expected - self.frames
            }
            _ => 0,
        };
        self.corrupt_frames + missing.max(self.decode_errors)
    }

    /// One line on what was lost, e.g. `read 17 of 25 frames; the input ended early: invalid data
    /// found; 3 packets could not be decoded`; `None` when nothing was.
    pub fn problem(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(expected) = self.expected_frames {
            let slack = u64::from(self.expected_is_estimate);
            if self.frames + slack < expected && !self.interrupted {
                let about = if self.expected_is_estimate {
                    "about "
                } else {
                    ""
                };
                parts.push(format!(
                    "decoded {} of {about}{expected} frames",
                    self.frames
                ));
            }
        }
        if let Some(e) = &self.read_error {
            parts.push(format!("the input ended early: {e}"));
        }
        if self.decode_errors > 0 {
            let first = self
                .first_decode_error
                .as_deref()
                .unwrap_or("unknown error");
            parts.push(format!(
                "{} packet(s) could not be decoded ({first})",
                self.decode_errors
            ));
        }
        if self.corrupt_frames > 0 {
            parts.push(format!("{} frame(s) were damaged", self.corrupt_frames));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::Ending;

    #[test]
    fn lost_frames_count_damage_and_the_larger_of_missing_and_rejected() {
        let cut = Ending {
            frames: 19,
            expected_frames: Some(40),
            expected_is_estimate: true,
            ..Ending::default()
        };
        assert_eq!(cut.lost_frames(), 21);
        let rejected = Ending {
            decode_errors: 3,
            corrupt_frames: 2,
            ..cut.clone()
        };
        assert_eq!(
            rejected.lost_frames(),
            23,
            "3 rejected packets are among the 21 missing"
        );
        let patched = Ending {
            frames: 40,
            corrupt_frames: 2,
            ..cut.clone()
        };
        assert_eq!(patched.lost_frames(), 2);
        let about = Ending {
            frames: 39,
            ..cut.clone()
        };
        assert_eq!(
            about.lost_frames(),
            0,
            "one frame short of an estimate is no loss"
        );
        let interrupted = Ending {
            interrupted: true,
            ..cut
        };
        assert_eq!(interrupted.lost_frames(), 0);
    }
}
