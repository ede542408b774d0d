//! Prints the devices `tether_media::list_devices` finds, and whether the default microphone,
//! speaker and camera open. `cargo run -p tether-media --example list_devices`
//!
//! On a headless machine every list is empty and every open fails with `MEDIA_NO_DEVICE`.

use tether_media::{list_devices, AudioPlayback, CameraCapture, CameraConfig, MicCapture};

fn main() {
    let devices = list_devices();
    for (kind, list) in [
        ("audio input", &devices.audio_inputs),
        ("audio output", &devices.audio_outputs),
        ("video input", &devices.video_inputs),
    ] {
        println!("{kind}s: {}", list.len());
        for d in list {
            let default = if d.is_default { " (default)" } else { "" };
            println!("  {} — {}{default}", d.id, d.name);
        }
    }
    let report = |what: &str, result: Result<String, tether_media::MediaError>| match result {
        Ok(name) => println!("{what}: opened {name}"),
        Err(e) => println!("{what}: {} {e}", e.code()),
    };
    report(
        "microphone",
        MicCapture::start(None, 0, |_| {}, |_| {}).map(|m| m.device_name().to_string()),
    );
    report(
        "speaker",
        AudioPlayback::start(None, || vec![0; 960], |_| {}).map(|p| p.device_name().to_string()),
    );
    report(
        "camera",
        CameraCapture::start(CameraConfig::default(), || 0, |_| {}, |_| {})
            .map(|c| c.device_name().to_string()),
    );
}
