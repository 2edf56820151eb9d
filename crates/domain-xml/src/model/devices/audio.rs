//! The per-direction settings of an `<audio>` backend (`<input>`, `<output>`).

use crate::model::common::AttrSet;
use crate::xml::{El, ParseError, XmlWriter};

/// Attributes of `<input>`/`<output>`: the generic ones first, then those of
/// particular backends (ALSA/OSS `dev`, PulseAudio/PipeWire `name`/`streamName`/
/// `latency`, OSS `tryPoll`/`bufferCount`/`policy`, CoreAudio `bufferCount`,
/// JACK `serverName`/`clientName`/`connectPorts`/`exactName`), in libvirt's order.
const STREAM_ATTRS: &[&str] = &[
    "mixingEngine",
    "fixedSettings",
    "voices",
    "bufferLength",
    "dev",
    "name",
    "streamName",
    "latency",
    "tryPoll",
    "bufferCount",
    "policy",
    "serverName",
    "clientName",
    "connectPorts",
    "exactName",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioStream {
    pub attrs: AttrSet,
    /// `<settings frequency= channels= format=>` (with `fixedSettings='yes'`).
    pub settings: Option<AttrSet>,
}

impl AudioStream {
    pub fn read(el: El<'_, '_>) -> Result<AudioStream, ParseError> {
        let settings = el
            .child("settings")
            .map(|s| AttrSet::read(s, &["frequency", "channels", "format"]));
        for k in ["mixingEngine", "fixedSettings", "tryPoll", "exactName"] {
            el.attr_yes_no(k)?;
        }
        Ok(AudioStream {
            attrs: AttrSet::read(el, STREAM_ATTRS),
            settings,
        })
    }

    pub fn write<'e>(&'e self, w: &mut XmlWriter<'e>, name: &str) {
        w.start(name);
        self.attrs.write_attrs(w);
        if let Some(s) = &self.settings {
            s.write(w, "settings");
        }
        w.end();
    }
}
