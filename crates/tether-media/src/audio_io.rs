//! Microphone capture and speaker playback through cpal.
//!
//! Each stream lives on its own thread (cpal streams are not `Send` on every platform), so the
//! handles here are `Send` and can be held by an async task. Dropping a handle stops its stream.
//! Callbacks run on the audio thread: keep them short (forward into a channel).

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread::JoinHandle;

use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{
    FromSample, SampleFormat, SizedSample, SupportedStreamConfig, SupportedStreamConfigRange,
};

use crate::devices::{find_audio_device, Direction};
use crate::error::{MediaError, MediaResult};
use crate::frame::{AudioFrame, SAMPLE_RATE};
use crate::resample::{downmix, FramePacker, Resampler};

/// A running microphone capture delivering 20 ms mono 48 kHz frames.
#[derive(Debug)]
pub struct MicCapture {
    device_name: String,
    _thread: StreamThread,
}

impl MicCapture {
    /// Opens `device_id` (an id or name from [`crate::list_devices`]; `None` = the default
    /// microphone) and starts capturing. Frames go to `on_frame`, stamped `start_us`,
    /// `start_us + 20 ms`, … (sample-count time: no clock is read). Errors after the start (device
    /// unplugged) go to `on_error`. Fails with `NoDevice` when there is no microphone.
    pub fn start(
        device_id: Option<&str>,
        start_us: u64,
        on_frame: impl FnMut(AudioFrame) + Send + 'static,
        on_error: impl FnMut(MediaError) + Send + 'static,
    ) -> MediaResult<MicCapture> {
        let wanted = device_id.map(str::to_string);
        let (thread, device_name) = StreamThread::spawn("tether-mic", move || {
            let (device, name) = find_audio_device(Direction::Input, wanted.as_deref())?;
            let ranges = device
                .supported_input_configs()
                .map(|r| r.collect())
                .unwrap_or_default();
            let config = pick_config(Direction::Input, ranges, device.default_input_config().ok())?;
            let stream = build_input(&device, &config, start_us, on_frame, on_error)?;
            Ok((stream, name))
        })?;
        Ok(MicCapture {
            device_name,
            _thread: thread,
        })
    }

    /// Name of the device being captured.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }
}

/// A running speaker output that pulls 20 ms mono 48 kHz frames from a source.
#[derive(Debug)]
pub struct AudioPlayback {
    device_name: String,
    _thread: StreamThread,
}

impl AudioPlayback {
    /// Opens `device_id` (`None` = the default output) and starts playing. Whenever the device needs
    /// more audio it calls `next_frame` for the next 20 ms (960 samples at 48 kHz mono; a shorter
    /// frame is padded with silence) — typically `jitter.pop(now).render(&mut decoder)`, so the
    /// device clock paces the jitter buffer. Fails with `NoDevice` when there is no output device.
    pub fn start(
        device_id: Option<&str>,
        next_frame: impl FnMut() -> Vec<i16> + Send + 'static,
        on_error: impl FnMut(MediaError) + Send + 'static,
    ) -> MediaResult<AudioPlayback> {
        let wanted = device_id.map(str::to_string);
        let (thread, device_name) = StreamThread::spawn("tether-playback", move || {
            let (device, name) = find_audio_device(Direction::Output, wanted.as_deref())?;
            let ranges = device
                .supported_output_configs()
                .map(|r| r.collect())
                .unwrap_or_default();
            let config = pick_config(
                Direction::Output,
                ranges,
                device.default_output_config().ok(),
            )?;
            let stream = build_output(&device, &config, next_frame, on_error)?;
            Ok((stream, name))
        })?;
        Ok(AudioPlayback {
            device_name,
            _thread: thread,
        })
    }

    /// Name of the device playing.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }
}

/// A thread that owns a playing cpal stream until the handle is dropped.
#[derive(Debug)]
struct StreamThread {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl StreamThread {
    fn spawn(
        name: &str,
        open: impl FnOnce() -> MediaResult<(cpal::Stream, String)> + Send + 'static,
    ) -> MediaResult<(StreamThread, String)> {
        let (ready_tx, ready_rx) = mpsc::sync_channel::<MediaResult<String>>(1);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let opened = open().and_then(|(stream, device)| {
                    stream.play().map_err(|e| MediaError::Device {
                        kind: "audio",
                        message: e.to_string(),
                    })?;
                    Ok((stream, device))
                });
                match opened {
                    Ok((stream, device)) => {
                        if ready_tx.send(Ok(device)).is_ok() {
                            // Blocks until the handle is dropped (the sender disconnects).
                            stop_rx.recv().ok();
                        }
                        drop(stream);
                    }
                    Err(e) => {
                        ready_tx.send(Err(e)).ok();
                    }
                }
            })
            .map_err(|e| MediaError::Device {
                kind: "audio",
                message: format!("cannot start the audio thread: {e}"),
            })?;
        let mut thread = StreamThread {
            stop: Some(stop_tx),
            handle: Some(handle),
        };
        match ready_rx.recv() {
            Ok(Ok(device)) => Ok((thread, device)),
            Ok(Err(e)) => Err(e),
            Err(_) => {
                thread.stop.take();
                Err(MediaError::Device {
                    kind: "audio",
                    message: "the audio thread ended while opening the device".into(),
                })
            }
        }
    }
}

impl Drop for StreamThread {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() {
                tracing::warn!("audio stream thread panicked");
            }
        }
    }
}

/// Preference order of sample formats (lower is better); `None` = unsupported.
fn format_rank(format: SampleFormat) -> Option<u8> {
    match format {
        SampleFormat::F32 => Some(0),
        SampleFormat::I16 => Some(1),
        SampleFormat::I32 => Some(2),
        SampleFormat::F64 => Some(3),
        SampleFormat::U16 => Some(4),
        SampleFormat::I8 => Some(5),
        SampleFormat::U8 => Some(6),
        _ => None,
    }
}

/// Chooses a stream config: 48 kHz with 1–2 channels in the best sample format if the device offers
/// it (no resampling), else the device default if its format is usable (we resample and mix).
fn pick_config(
    dir: Direction,
    ranges: Vec<SupportedStreamConfigRange>,
    default: Option<SupportedStreamConfig>,
) -> MediaResult<SupportedStreamConfig> {
    let best = ranges
        .into_iter()
        .filter(|r| {
            (1..=2).contains(&r.channels())
                && r.min_sample_rate() <= SAMPLE_RATE
                && r.max_sample_rate() >= SAMPLE_RATE
        })
        .filter_map(|r| Some((format_rank(r.sample_format())?, r.channels(), r)))
        .min_by_key(|(rank, channels, _)| (*rank, *channels))
        .map(|(_, _, r)| r.with_sample_rate(SAMPLE_RATE));
    if let Some(config) = best {
        return Ok(config);
    }
    match default {
        Some(d) if format_rank(d.sample_format()).is_some() && d.channels() > 0 => Ok(d),
        Some(d) => Err(MediaError::UnsupportedFormat {
            kind: dir.kind(),
            message: format!("{:?} with {} channels", d.sample_format(), d.channels()),
        }),
        None => Err(MediaError::UnsupportedFormat {
            kind: dir.kind(),
            message: "the device reports no configuration".into(),
        }),
    }
}

fn device_error(kind: &'static str) -> impl FnOnce(cpal::Error) -> MediaError {
    move |e| MediaError::Device {
        kind,
        message: e.to_string(),
    }
}

macro_rules! by_format {
    ($format:expr, $kind:expr, $f:ident, $($arg:expr),*) => {
        match $format {
            SampleFormat::F32 => $f::<f32>($($arg),*),
            SampleFormat::I16 => $f::<i16>($($arg),*),
            SampleFormat::I32 => $f::<i32>($($arg),*),
            SampleFormat::F64 => $f::<f64>($($arg),*),
            SampleFormat::U16 => $f::<u16>($($arg),*),
            SampleFormat::I8 => $f::<i8>($($arg),*),
            SampleFormat::U8 => $f::<u8>($($arg),*),
            other => Err(MediaError::UnsupportedFormat {
                kind: $kind,
                message: format!("{other:?}"),
            }),
        }
    };
}

fn build_input(
    device: &cpal::Device,
    config: &SupportedStreamConfig,
    start_us: u64,
    on_frame: impl FnMut(AudioFrame) + Send + 'static,
    on_error: impl FnMut(MediaError) + Send + 'static,
) -> MediaResult<cpal::Stream> {
    let stream_config = config.config();
    by_format!(
        config.sample_format(),
        "microphone",
        input_stream,
        device,
        stream_config,
        start_us,
        on_frame,
        on_error
    )
}

fn input_stream<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    start_us: u64,
    mut on_frame: impl FnMut(AudioFrame) + Send + 'static,
    mut on_error: impl FnMut(MediaError) + Send + 'static,
) -> MediaResult<cpal::Stream>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels);
    let mut resampler = Resampler::new(config.sample_rate, SAMPLE_RATE);
    let mut packer = FramePacker::new(start_us);
    let (mut float, mut mono, mut resampled) = (Vec::new(), Vec::new(), Vec::new());
    device
        .build_input_stream::<T, _, _>(
            config,
            move |data: &[T], _| {
                float.clear();
                float.extend(data.iter().map(|s| s.to_sample::<f32>()));
                mono.clear();
                downmix(&float, channels, &mut mono);
                resampled.clear();
                resampler.process(&mono, &mut resampled);
                packer.push(&resampled, &mut on_frame);
            },
            move |e| on_error(device_error("microphone")(e)),
            None,
        )
        .map_err(device_error("microphone"))
}

fn build_output(
    device: &cpal::Device,
    config: &SupportedStreamConfig,
    next_frame: impl FnMut() -> Vec<i16> + Send + 'static,
    on_error: impl FnMut(MediaError) + Send + 'static,
) -> MediaResult<cpal::Stream> {
    let stream_config = config.config();
    by_format!(
        config.sample_format(),
        "speaker",
        output_stream,
        device,
        stream_config,
        next_frame,
        on_error
    )
}

fn output_stream<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut next_frame: impl FnMut() -> Vec<i16> + Send + 'static,
    mut on_error: impl FnMut(MediaError) + Send + 'static,
) -> MediaResult<cpal::Stream>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let channels = usize::from(config.channels).max(1);
    let mut resampler = Resampler::new(SAMPLE_RATE, config.sample_rate);
    let mut queue: VecDeque<f32> = VecDeque::new();
    let (mut float, mut resampled) = (Vec::new(), Vec::new());
    device
        .build_output_stream::<T, _, _>(
            config,
            move |data: &mut [T], _| {
                for out in data.chunks_mut(channels) {
                    while queue.is_empty() {
                        let mut frame = next_frame();
                        frame.resize(crate::frame::SAMPLES_PER_FRAME, 0);
                        float.clear();
                        float.extend(frame.iter().map(|&s| f32::from(s) / 32768.0));
                        resampled.clear();
                        resampler.process(&float, &mut resampled);
                        queue.extend(resampled.iter().copied());
                    }
                    let sample = T::from_sample(queue.pop_front().unwrap_or(0.0));
                    out.fill(sample);
                }
            },
            move |e| on_error(device_error("speaker")(e)),
            None,
        )
        .map_err(device_error("speaker"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::list_devices;
    use cpal::SupportedBufferSize;

    fn range(
        channels: u16,
        min: u32,
        max: u32,
        format: SampleFormat,
    ) -> SupportedStreamConfigRange {
        SupportedStreamConfigRange::new(channels, min, max, SupportedBufferSize::Unknown, format)
    }

    #[test]
    fn prefers_48k_float_mono_then_default() {
        let ranges = vec![
            range(2, 8_000, 96_000, SampleFormat::I16),
            range(1, 8_000, 96_000, SampleFormat::F32),
            range(6, 8_000, 96_000, SampleFormat::F32),
        ];
        let c = pick_config(Direction::Input, ranges, None).unwrap();
        assert_eq!(
            (c.channels(), c.sample_rate(), c.sample_format()),
            (1, 48_000, SampleFormat::F32)
        );

        let only_44k = vec![range(2, 44_100, 44_100, SampleFormat::I16)];
        let default = range(2, 44_100, 44_100, SampleFormat::I16).with_sample_rate(44_100);
        let c = pick_config(Direction::Output, only_44k, Some(default)).unwrap();
        assert_eq!((c.channels(), c.sample_rate()), (2, 44_100));

        let err = pick_config(Direction::Output, vec![], None).unwrap_err();
        assert_eq!(err.code(), "MEDIA_UNSUPPORTED_FORMAT");
        let odd = range(2, 48_000, 48_000, SampleFormat::I24).with_sample_rate(48_000);
        assert!(pick_config(Direction::Input, vec![], Some(odd)).is_err());
    }

    /// Without a sound card (CI, containers) both fail cleanly with `NoDevice`; with one they start.
    #[test]
    fn start_without_devices_is_no_device() {
        let devices = list_devices();
        if devices.audio_inputs.is_empty() {
            let err = MicCapture::start(None, 0, |_| {}, |_| {}).unwrap_err();
            assert_eq!(err.code(), "MEDIA_NO_DEVICE", "{err}");
        }
        if devices.audio_outputs.is_empty() {
            let err = AudioPlayback::start(None, || vec![0; 960], |_| {}).unwrap_err();
            assert_eq!(err.code(), "MEDIA_NO_DEVICE", "{err}");
        }
        let err = MicCapture::start(Some("missing"), 0, |_| {}, |_| {}).unwrap_err();
        assert!(matches!(err, MediaError::NoDevice { name: Some(ref n), .. } if n == "missing"));
    }
}
