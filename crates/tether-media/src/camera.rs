//! Camera capture through nokhwa (feature `camera`), delivering I420 frames of a fixed size.

use crate::devices::DeviceInfo;
use crate::error::{MediaError, MediaResult};
use crate::frame::VideoFrame;

/// What to open and what to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraConfig {
    /// Camera id from [`crate::list_devices`] (`None` = the first camera).
    pub device_id: Option<String>,
    /// Width of delivered frames (camera frames are centre-cropped and scaled to it).
    pub width: u32,
    /// Height of delivered frames.
    pub height: u32,
    /// Frame rate to ask the camera for.
    pub fps: u32,
}

impl Default for CameraConfig {
    fn default() -> Self {
        CameraConfig {
            device_id: None,
            width: 640,
            height: 360,
            fps: 30,
        }
    }
}

/// A running camera capture (its own thread). Dropping it stops the camera.
#[derive(Debug)]
pub struct CameraCapture {
    device_name: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl CameraCapture {
    /// Opens the camera and starts delivering frames to `on_frame`, numbered from 0 and stamped
    /// with `now_us()` when each frame is read. A read error after the start goes to `on_error` and
    /// ends the capture. Fails with `NoDevice` when there is no camera (or the crate was built
    /// without the `camera` feature).
    pub fn start(
        config: CameraConfig,
        now_us: impl Fn() -> u64 + Send + 'static,
        on_frame: impl FnMut(VideoFrame) + Send + 'static,
        on_error: impl FnMut(MediaError) + Send + 'static,
    ) -> MediaResult<CameraCapture> {
        imp::start(config, now_us, on_frame, on_error)
    }

    /// Name of the camera.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }
}

impl Drop for CameraCapture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            if handle.join().is_err() {
                tracing::warn!("camera thread panicked");
            }
        }
    }
}

/// Cameras present (empty without the `camera` feature or when the backend cannot enumerate).
pub(crate) fn list_cameras() -> Vec<DeviceInfo> {
    imp::list()
}

fn no_camera(name: Option<&str>) -> MediaError {
    MediaError::NoDevice {
        kind: "camera",
        name: name.map(str::to_string),
    }
}

#[cfg(all(
    feature = "camera",
    any(target_os = "linux", target_os = "macos", target_os = "windows")
))]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};

    use nokhwa::pixel_format::RgbFormat;
    use nokhwa::utils::{
        ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
    };
    use nokhwa::Camera;

    use super::*;
    use crate::convert::rgb_to_i420;

    fn index_id(index: &CameraIndex) -> String {
        match index {
            CameraIndex::Index(i) => i.to_string(),
            CameraIndex::String(s) => s.clone(),
        }
    }

    pub(super) fn list() -> Vec<DeviceInfo> {
        match nokhwa::query(ApiBackend::Auto) {
            Ok(cameras) => cameras
                .iter()
                .enumerate()
                .map(|(i, c)| DeviceInfo {
                    id: index_id(c.index()),
                    name: c.human_name(),
                    is_default: i == 0,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "camera enumeration failed");
                Vec::new()
            }
        }
    }

    fn device_error(e: nokhwa::NokhwaError) -> MediaError {
        MediaError::Device {
            kind: "camera",
            message: e.to_string(),
        }
    }

    /// Opens the camera, trying MJPEG then YUYV near the wanted size and rate, then anything.
    fn open(config: &CameraConfig) -> MediaResult<(Camera, String)> {
        let cameras = list();
        let info = match config.device_id.as_deref() {
            Some(id) => cameras.into_iter().find(|c| c.id == id || c.name == id),
            None => cameras.into_iter().next(),
        }
        .ok_or_else(|| no_camera(config.device_id.as_deref()))?;
        let index = match info.id.parse::<u32>() {
            Ok(i) => CameraIndex::Index(i),
            Err(_) => CameraIndex::String(info.id.clone()),
        };
        let wanted =
            |format| CameraFormat::new_from(config.width, config.height, format, config.fps.max(1));
        let requests = [
            RequestedFormatType::Closest(wanted(FrameFormat::MJPEG)),
            RequestedFormatType::Closest(wanted(FrameFormat::YUYV)),
            RequestedFormatType::AbsoluteHighestFrameRate,
        ];
        let mut last_error = None;
        for request in requests {
            match Camera::new(index.clone(), RequestedFormat::new::<RgbFormat>(request)) {
                Ok(mut camera) => {
                    camera.open_stream().map_err(device_error)?;
                    return Ok((camera, info.name));
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.map_or_else(|| no_camera(Some(&info.id)), device_error))
    }

    pub(super) fn start(
        config: CameraConfig,
        now_us: impl Fn() -> u64 + Send + 'static,
        mut on_frame: impl FnMut(VideoFrame) + Send + 'static,
        mut on_error: impl FnMut(MediaError) + Send + 'static,
    ) -> MediaResult<CameraCapture> {
        if config.width == 0 || config.height == 0 {
            return Err(MediaError::InvalidInput(
                "camera frame size must be non-zero".into(),
            ));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let (ready_tx, ready_rx) = mpsc::sync_channel::<MediaResult<String>>(1);
        let handle = std::thread::Builder::new()
            .name("tether-camera".into())
            .spawn(move || {
                let mut camera = match open(&config) {
                    Ok((camera, name)) => {
                        ready_tx.send(Ok(name)).ok();
                        camera
                    }
                    Err(e) => {
                        ready_tx.send(Err(e)).ok();
                        return;
                    }
                };
                let mut frame_no = 0u64;
                while !stop_flag.load(Ordering::Relaxed) {
                    let result = camera.frame().map_err(device_error).and_then(|buffer| {
                        let res = buffer.resolution();
                        let rgb = buffer.decode_image::<RgbFormat>().map_err(device_error)?;
                        rgb_to_i420(
                            rgb.as_raw(),
                            res.width(),
                            res.height(),
                            config.width,
                            config.height,
                        )
                        .ok_or_else(|| MediaError::Device {
                            kind: "camera",
                            message: "camera delivered a truncated frame".into(),
                        })
                    });
                    match result {
                        Ok(mut frame) => {
                            frame.frame_no = frame_no;
                            frame.capture_us = now_us();
                            frame_no += 1;
                            on_frame(frame);
                        }
                        Err(e) => {
                            on_error(e);
                            break;
                        }
                    }
                }
                camera.stop_stream().ok();
            })
            .map_err(|e| MediaError::Device {
                kind: "camera",
                message: format!("cannot start the camera thread: {e}"),
            })?;
        let mut capture = CameraCapture {
            device_name: String::new(),
            stop,
            handle: Some(handle),
        };
        match ready_rx.recv() {
            Ok(Ok(name)) => {
                capture.device_name = name;
                Ok(capture)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(MediaError::Device {
                kind: "camera",
                message: "the camera thread ended while opening the device".into(),
            }),
        }
    }
}

#[cfg(not(all(
    feature = "camera",
    any(target_os = "linux", target_os = "macos", target_os = "windows")
)))]
mod imp {
    use super::*;

    pub(super) fn list() -> Vec<DeviceInfo> {
        Vec::new()
    }

    pub(super) fn start(
        config: CameraConfig,
        _now_us: impl Fn() -> u64 + Send + 'static,
        _on_frame: impl FnMut(VideoFrame) + Send + 'static,
        _on_error: impl FnMut(MediaError) + Send + 'static,
    ) -> MediaResult<CameraCapture> {
        Err(no_camera(config.device_id.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a camera (CI, containers) opening one is a clean `NoDevice`.
    #[test]
    fn no_camera_is_no_device() {
        if list_cameras().is_empty() {
            let err =
                CameraCapture::start(CameraConfig::default(), || 0, |_| {}, |_| {}).unwrap_err();
            assert_eq!(err.code(), "MEDIA_NO_DEVICE", "{err}");
        }
        let config = CameraConfig {
            device_id: Some("no such camera".into()),
            ..CameraConfig::default()
        };
        let err = CameraCapture::start(config, || 0, |_| {}, |_| {}).unwrap_err();
        assert!(
            matches!(err, MediaError::NoDevice { name: Some(_), .. }),
            "{err}"
        );
    }
}
