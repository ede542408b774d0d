//! Device enumeration: microphones and speakers through cpal, cameras through nokhwa.

use cpal::traits::{DeviceTrait, HostTrait};

use crate::error::{MediaError, MediaResult};

/// One device the user can pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable identifier to pass back to `MicCapture::start` and friends (cpal's `DeviceId`
    /// string such as `alsa:hw:CARD=PCH,DEV=0`, or a camera index).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Whether the platform reports it as the default device of its kind.
    pub is_default: bool,
}

/// Everything [`list_devices`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    /// Microphones.
    pub audio_inputs: Vec<DeviceInfo>,
    /// Speakers and headphones.
    pub audio_outputs: Vec<DeviceInfo>,
    /// Cameras (always empty without the `camera` feature).
    pub video_inputs: Vec<DeviceInfo>,
}

impl Devices {
    /// True when no device of any kind was found.
    pub fn is_empty(&self) -> bool {
        self.audio_inputs.is_empty()
            && self.audio_outputs.is_empty()
            && self.video_inputs.is_empty()
    }
}

/// Lists the devices present. Never fails: a backend that cannot enumerate contributes an empty
/// list (logged at `warn`). Only devices that really enumerate are listed — cpal's "default"
/// device, which exists even on a machine without a sound card, is not reported on its own.
pub fn list_devices() -> Devices {
    let host = cpal::default_host();
    Devices {
        audio_inputs: audio_devices(&host, Direction::Input),
        audio_outputs: audio_devices(&host, Direction::Output),
        video_inputs: crate::camera::list_cameras(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Input,
    Output,
}

impl Direction {
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Direction::Input => "microphone",
            Direction::Output => "speaker",
        }
    }
}

/// Device ids that enumerate but are not devices a user can talk into or listen on: ALSA's `null`
/// PCM (discards playback, captures zeros) is listed even on a machine without a sound card.
fn is_pseudo_device(id: &str) -> bool {
    matches!(id, "alsa:null")
}

/// The devices of one direction that really exist (pseudo-devices left out).
fn enumerate(host: &cpal::Host, dir: Direction) -> Vec<cpal::Device> {
    let devices = match dir {
        Direction::Input => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        Direction::Output => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    };
    let devices = devices.unwrap_or_else(|e| {
        tracing::warn!(error = %e, kind = dir.kind(), "audio device enumeration failed");
        Vec::new()
    });
    devices
        .into_iter()
        .filter(|d| device_id(d).is_some_and(|id| !is_pseudo_device(&id)))
        .collect()
}

fn default_device(host: &cpal::Host, dir: Direction) -> Option<cpal::Device> {
    match dir {
        Direction::Input => host.default_input_device(),
        Direction::Output => host.default_output_device(),
    }
}

fn device_id(device: &cpal::Device) -> Option<String> {
    device.id().ok().map(|id| id.to_string())
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| device.to_string())
}

fn audio_devices(host: &cpal::Host, dir: Direction) -> Vec<DeviceInfo> {
    let devices = enumerate(host, dir);
    // Only ask for the default when something enumerates: without a sound card, opening ALSA's
    // "default" fails (and libasound prints errors on stderr).
    let default_id = if devices.is_empty() {
        None
    } else {
        default_device(host, dir).as_ref().and_then(device_id)
    };
    devices
        .iter()
        .filter_map(|d| {
            let id = device_id(d)?;
            Some(DeviceInfo {
                is_default: default_id.as_deref() == Some(id.as_str()),
                name: device_name(d),
                id,
            })
        })
        .collect()
}

/// Finds the device to open: the one whose id (or name) is `wanted`, or for `None` the default
/// device — but only if at least one real device enumerates, so a machine with no sound card gets
/// `NoDevice` rather than a phantom "default".
pub(crate) fn find_audio_device(
    dir: Direction,
    wanted: Option<&str>,
) -> MediaResult<(cpal::Device, String)> {
    let host = cpal::default_host();
    let devices = enumerate(&host, dir);
    let no_device = || MediaError::NoDevice {
        kind: dir.kind(),
        name: wanted.map(str::to_string),
    };
    let device = match wanted {
        Some(wanted) => devices
            .into_iter()
            .find(|d| device_id(d).as_deref() == Some(wanted) || device_name(d) == wanted)
            .ok_or_else(no_device)?,
        None => {
            if devices.is_empty() {
                return Err(no_device());
            }
            match default_device(&host, dir) {
                Some(d) => d,
                None => devices.into_iter().next().ok_or_else(no_device)?,
            }
        }
    };
    let name = device_name(&device);
    Ok((device, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine (CI, containers) has no sound card and no camera: everything is empty, and
    /// opening a device is a clean `NoDevice`. On a machine with devices the lists are non-empty
    /// and the ids are unique.
    #[test]
    fn enumeration_never_fails_and_ids_are_unique() {
        let devices = list_devices();
        for list in [
            &devices.audio_inputs,
            &devices.audio_outputs,
            &devices.video_inputs,
        ] {
            let mut ids: Vec<&str> = list.iter().map(|d| d.id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), list.len());
            assert!(list.iter().filter(|d| d.is_default).count() <= 1);
        }
    }

    #[test]
    fn alsa_null_is_not_a_device() {
        assert!(is_pseudo_device("alsa:null"));
        assert!(!is_pseudo_device("alsa:default"));
        assert!(!is_pseudo_device("alsa:hw:CARD=PCH,DEV=0"));
        let devices = list_devices();
        assert!(devices
            .audio_inputs
            .iter()
            .chain(&devices.audio_outputs)
            .all(|d| d.id != "alsa:null"));
    }

    #[test]
    fn a_named_device_that_does_not_exist_is_no_device() {
        for dir in [Direction::Input, Direction::Output] {
            match find_audio_device(dir, Some("no such device 1234")) {
                Err(e @ MediaError::NoDevice { .. }) => {
                    assert_eq!(e.code(), "MEDIA_NO_DEVICE");
                    assert!(e.to_string().contains("no such device 1234"));
                }
                other => panic!("{:?}", other.map(|(_, name)| name)),
            }
        }
    }

    #[test]
    fn default_device_only_when_something_enumerates() {
        let devices = list_devices();
        let input = find_audio_device(Direction::Input, None);
        assert_eq!(input.is_ok(), !devices.audio_inputs.is_empty());
        let output = find_audio_device(Direction::Output, None);
        assert_eq!(output.is_ok(), !devices.audio_outputs.is_empty());
    }
}
