//! Opus encoder and decoder: 48 kHz mono, 20 ms frames, in-band FEC.

use crate::error::{MediaError, MediaResult};
use crate::frame::{SAMPLES_PER_FRAME, SAMPLE_RATE};

/// Default Opus bitrate in bits per second.
pub const DEFAULT_OPUS_BITRATE: u32 = 32_000;
/// Largest packet the encoder may produce (libopus's recommended buffer size).
const MAX_PACKET: usize = 4000;
/// Largest frame a decoder may be handed: 120 ms at 48 kHz.
const MAX_FRAME_SAMPLES: usize = 5760;

/// Opus encoder for 20 ms mono 48 kHz frames (VoIP mode, VBR, in-band FEC on).
pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl OpusEncoder {
    /// An encoder at [`DEFAULT_OPUS_BITRATE`], FEC on, expecting 10 % loss until told otherwise.
    pub fn new() -> MediaResult<OpusEncoder> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
        inner.set_bitrate(opus::Bitrate::Bits(DEFAULT_OPUS_BITRATE as i32))?;
        inner.set_inband_fec(true)?;
        inner.set_packet_loss_perc(10)?;
        Ok(OpusEncoder { inner })
    }

    /// Tells the encoder how much loss to expect (0–100 %, clamped); more loss means more FEC bits.
    pub fn set_packet_loss_percent(&mut self, percent: u8) -> MediaResult<()> {
        Ok(self
            .inner
            .set_packet_loss_perc(i32::from(percent.min(100)))?)
    }

    /// Target bitrate in bits per second (clamped to 6–510 kbps, Opus's range).
    pub fn set_bitrate(&mut self, bps: u32) -> MediaResult<()> {
        let bps = bps.clamp(6_000, 510_000) as i32;
        Ok(self.inner.set_bitrate(opus::Bitrate::Bits(bps))?)
    }

    /// Encodes one 20 ms frame (exactly [`SAMPLES_PER_FRAME`] samples) into one Opus packet.
    pub fn encode(&mut self, samples: &[i16]) -> MediaResult<Vec<u8>> {
        if samples.len() != SAMPLES_PER_FRAME {
            return Err(MediaError::InvalidInput(format!(
                "opus frame has {} samples, expected {SAMPLES_PER_FRAME}",
                samples.len()
            )));
        }
        Ok(self.inner.encode_vec(samples, MAX_PACKET)?)
    }
}

/// Opus decoder producing 48 kHz mono PCM, with FEC recovery and packet-loss concealment.
pub struct OpusDecoder {
    inner: opus::Decoder,
    buf: Vec<i16>,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A 48 kHz mono decoder.
    pub fn new() -> MediaResult<OpusDecoder> {
        Ok(OpusDecoder {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
            buf: vec![0; MAX_FRAME_SAMPLES],
        })
    }

    /// Decodes one received packet (any duration up to 120 ms; 960 samples for our 20 ms packets).
    /// An empty packet is treated like a lost one (concealment).
    pub fn decode(&mut self, packet: &[u8]) -> MediaResult<Vec<i16>> {
        if packet.is_empty() {
            return self.conceal();
        }
        let n = self.inner.decode(packet, &mut self.buf, false)?;
        Ok(self.buf[..n.min(MAX_FRAME_SAMPLES)].to_vec())
    }

    /// Recovers the 20 ms frame that was lost just before `next_packet`, from the FEC data carried in
    /// `next_packet` (libopus falls back to concealment when it carries none). Decode `next_packet`
    /// itself normally afterwards.
    pub fn decode_fec(&mut self, next_packet: &[u8]) -> MediaResult<Vec<i16>> {
        if next_packet.is_empty() {
            return self.conceal();
        }
        let n = self
            .inner
            .decode(next_packet, &mut self.buf[..SAMPLES_PER_FRAME], true)?;
        Ok(self.buf[..n.min(SAMPLES_PER_FRAME)].to_vec())
    }

    /// Packet-loss concealment: 20 ms extrapolated from what was decoded before.
    pub fn conceal(&mut self) -> MediaResult<Vec<i16>> {
        let n = self
            .inner
            .decode(&[], &mut self.buf[..SAMPLES_PER_FRAME], false)?;
        Ok(self.buf[..n.min(SAMPLES_PER_FRAME)].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::level;
    use crate::synth::SyntheticAudio;

    #[test]
    fn round_trip_keeps_level() {
        let mut enc = OpusEncoder::new().unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut src = SyntheticAudio::default();
        let mut last = Vec::new();
        for i in 0..50 {
            let frame = src.next_frame(i * 20_000);
            let packet = enc.encode(&frame.samples).unwrap();
            assert!(packet.len() > 10 && packet.len() < 400, "{}", packet.len());
            last = dec.decode(&packet).unwrap();
            assert_eq!(last.len(), SAMPLES_PER_FRAME);
        }
        let l = level(&last);
        assert!(l > 60, "level {l}");
    }

    #[test]
    fn fec_and_plc_fill_a_gap() {
        let mut enc = OpusEncoder::new().unwrap();
        enc.set_packet_loss_percent(20).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        let mut src = SyntheticAudio::default();
        let packets: Vec<Vec<u8>> = (0..30)
            .map(|i| enc.encode(&src.next_frame(i * 20_000).samples).unwrap())
            .collect();
        for (i, p) in packets.iter().enumerate() {
            let out = match i {
                10 => continue,
                11 => {
                    let recovered = dec.decode_fec(p).unwrap();
                    assert_eq!(recovered.len(), SAMPLES_PER_FRAME);
                    assert!(level(&recovered) > 40, "fec level {}", level(&recovered));
                    dec.decode(p).unwrap()
                }
                20 => dec.conceal().unwrap(),
                _ => dec.decode(p).unwrap(),
            };
            assert_eq!(out.len(), SAMPLES_PER_FRAME);
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut enc = OpusEncoder::new().unwrap();
        assert!(matches!(
            enc.encode(&[0; 100]),
            Err(MediaError::InvalidInput(_))
        ));
        enc.set_bitrate(0).unwrap();
        enc.set_bitrate(u32::MAX).unwrap();
        enc.set_packet_loss_percent(255).unwrap();
        let mut dec = OpusDecoder::new().unwrap();
        // Garbage may decode to noise or fail, but must not panic.
        for packet in [&[0xff, 0xff, 0xff][..], &[0x00], &[0xfc, 0xff, 0xff]] {
            if let Ok(samples) = dec.decode(packet) {
                assert!(samples.len() <= MAX_FRAME_SAMPLES);
            }
            if let Ok(samples) = dec.decode_fec(packet) {
                assert!(samples.len() <= SAMPLES_PER_FRAME);
            }
        }
        assert_eq!(dec.decode(&[]).unwrap().len(), SAMPLES_PER_FRAME);
    }
}
