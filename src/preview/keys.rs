//! The window's keys and what they do, kept apart from the window so that the mapping is tested
//! without a display.

use minifb::Key;

/// One line listing the keys, for the window's title and `--help`.
pub const KEYS_LINE: &str =
    "1-9 style  Space pause  V view  +/- iterations  [/] style weight  S screenshot  R record  O overlay  Esc quit";

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Switch to the style with this 0-based number.
    Style(usize),
    /// Pause or resume.
    Pause,
    /// Cycle stylized → side by side → original.
    View,
    /// One more (`+1`) or one fewer (`-1`) iteration per frame.
    Iterations(i32),
    /// A heavier (`+1`) or lighter (`-1`) style weight.
    StyleWeight(i32),
    /// Save a PNG of the picture in the window.
    Screenshot,
    /// Start or stop recording the stylized stream.
    Record,
    /// Show or hide the overlay.
    Overlay,
    /// Close the window and stop.
    Quit,
}

/// The action of `key`, if it has one.
pub fn action(key: Key) -> Option<Action> {
    use Key::*;
    let digit = |n: usize| Some(Action::Style(n - 1));
    match key {
        Key1 | NumPad1 => digit(1),
        Key2 | NumPad2 => digit(2),
        Key3 | NumPad3 => digit(3),
        Key4 | NumPad4 => digit(4),
        Key5 | NumPad5 => digit(5),
        Key6 | NumPad6 => digit(6),
        Key7 | NumPad7 => digit(7),
        Key8 | NumPad8 => digit(8),
        Key9 | NumPad9 => digit(9),
        Space => Some(Action::Pause),
        V => Some(Action::View),
        Equal | NumPadPlus => Some(Action::Iterations(1)),
        Minus | NumPadMinus => Some(Action::Iterations(-1)),
        RightBracket => Some(Action::StyleWeight(1)),
        LeftBracket => Some(Action::StyleWeight(-1)),
        S => Some(Action::Screenshot),
        R => Some(Action::Record),
        O => Some(Action::Overlay),
        Escape => Some(Action::Quit),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_the_issue_maps_to_its_action() {
        assert_eq!(action(Key::Key1), Some(Action::Style(0)));
        assert_eq!(action(Key::Key9), Some(Action::Style(8)));
        assert_eq!(action(Key::NumPad3), Some(Action::Style(2)));
        assert_eq!(action(Key::Space), Some(Action::Pause));
        assert_eq!(action(Key::V), Some(Action::View));
        assert_eq!(action(Key::Equal), Some(Action::Iterations(1)));
        assert_eq!(action(Key::NumPadPlus), Some(Action::Iterations(1)));
        assert_eq!(action(Key::Minus), Some(Action::Iterations(-1)));
        assert_eq!(action(Key::RightBracket), Some(Action::StyleWeight(1)));
        assert_eq!(action(Key::LeftBracket), Some(Action::StyleWeight(-1)));
        assert_eq!(action(Key::S), Some(Action::Screenshot));
        assert_eq!(action(Key::R), Some(Action::Record));
        assert_eq!(action(Key::O), Some(Action::Overlay));
        assert_eq!(action(Key::Escape), Some(Action::Quit));
        assert_eq!(action(Key::Key0), None);
        assert_eq!(action(Key::A), None);
    }
}
