//! Re-timing MPEG-TS packets (ISO/IEC 13818-1) so a looped segment continues the timeline:
//! shifts PCR, PTS and DTS by a fixed offset and renumbers continuity counters per PID. Pure;
//! knows nothing of files or playlists.

use std::collections::HashMap;

const PACKET: usize = 188;
const SYNC: u8 = 0x47;
/// PCR base, PTS and DTS are 33-bit counters of a 90 kHz clock.
const WRAP: u64 = 1 << 33;

/// Per-PID continuity counters carried from one segment to the next.
#[derive(Debug, Default)]
pub struct Continuity {
    next: HashMap<u16, u8>,
}

/// Returns a copy of `ts` with every timestamp moved `ticks` (90 kHz) later and continuity
/// counters following on from the previous call. Bytes after the last whole packet are dropped;
/// packets without the sync byte are copied unchanged.
pub fn retime(ts: &[u8], ticks: u64, cc: &mut Continuity) -> Vec<u8> {
    let mut out = Vec::with_capacity(ts.len());
    for packet in ts.chunks_exact(PACKET) {
        let mut p = [0u8; PACKET];
        p.copy_from_slice(packet);
        if p[0] == SYNC {
            retime_packet(&mut p, ticks, cc);
        }
        out.extend_from_slice(&p);
    }
    out
}

fn retime_packet(p: &mut [u8; PACKET], ticks: u64, cc: &mut Continuity) {
    let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let unit_start = p[1] & 0x40 != 0;
    let control = (p[3] >> 4) & 0x3;
    let has_adaptation = control & 0x2 != 0;
    let has_payload = control & 0x1 != 0;
    if has_payload {
        let counter = cc.next.entry(pid).or_insert(p[3] & 0x0f);
        p[3] = (p[3] & 0xf0) | *counter;
        *counter = (*counter + 1) & 0x0f;
    }
    let mut payload = 4;
    if has_adaptation {
        let len = usize::from(p[4]);
        // PCR_flag (0x10) with at least 7 bytes of adaptation field: flags + 6 PCR bytes.
        if len >= 7 && p[5] & 0x10 != 0 {
            shift_pcr(&mut p[6..12], ticks);
        }
        payload = 5 + len;
    }
    if unit_start && has_payload && payload + 14 <= PACKET && p[payload..payload + 3] == [0, 0, 1] {
        shift_pes(&mut p[payload..], ticks);
    }
}

/// PCR: 33-bit base, 6 reserved bits, 9-bit extension (§2.4.3.5).
fn shift_pcr(b: &mut [u8], ticks: u64) {
    let base = (u64::from(b[0]) << 25)
        | (u64::from(b[1]) << 17)
        | (u64::from(b[2]) << 9)
        | (u64::from(b[3]) << 1)
        | (u64::from(b[4]) >> 7);
    let base = (base + ticks) % WRAP;
    b[0] = (base >> 25) as u8;
    b[1] = (base >> 17) as u8;
    b[2] = (base >> 9) as u8;
    b[3] = (base >> 1) as u8;
    b[4] = (b[4] & 0x7f) | (((base & 1) as u8) << 7);
}

/// PES header (§2.4.3.7): PTS_DTS_flags in byte 7, PTS at 9, DTS at 14.
fn shift_pes(pes: &mut [u8], ticks: u64) {
    let flags = pes[7] >> 6;
    if flags & 0x2 != 0 {
        shift_timestamp(&mut pes[9..14], ticks);
    }
    if flags == 0x3 && pes.len() >= 19 {
        shift_timestamp(&mut pes[14..19], ticks);
    }
}

/// A 5-byte PTS/DTS: 4-bit prefix, bits 32..30, marker, 29..15, marker, 14..0, marker.
fn shift_timestamp(b: &mut [u8], ticks: u64) {
    let t = (u64::from(b[0] >> 1) & 0x7) << 30
        | u64::from(b[1]) << 22
        | (u64::from(b[2]) >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4]) >> 1;
    let t = (t + ticks) % WRAP;
    b[0] = (b[0] & 0xf1) | (((t >> 30) as u8 & 0x7) << 1);
    b[1] = (t >> 22) as u8;
    b[2] = ((((t >> 15) & 0x7f) as u8) << 1) | 1;
    b[3] = (t >> 7) as u8;
    b[4] = (((t & 0x7f) as u8) << 1) | 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_timestamp(b: &[u8]) -> u64 {
        (u64::from(b[0] >> 1) & 0x7) << 30
            | u64::from(b[1]) << 22
            | (u64::from(b[2]) >> 1) << 15
            | u64::from(b[3]) << 7
            | u64::from(b[4]) >> 1
    }

    #[test]
    fn timestamp_shift_round_trips_and_keeps_markers() {
        for (t, ticks) in [(0u64, 720_000u64), (126_000, 1), (WRAP - 5, 10), (0x1_2345_6789, 90_000)] {
            let mut b = [0x21, 0, 1, 0, 1];
            shift_timestamp(&mut b, t);
            assert_eq!(read_timestamp(&b), t % WRAP);
            shift_timestamp(&mut b, ticks);
            assert_eq!(read_timestamp(&b), (t + ticks) % WRAP);
            assert_eq!(b[0] & 0xf1, 0x21);
            assert_eq!(b[2] & 1, 1);
            assert_eq!(b[4] & 1, 1);
        }
    }

    #[test]
    fn continuity_counters_follow_on() {
        let mut packet = [0xffu8; PACKET];
        packet[..4].copy_from_slice(&[SYNC, 0x01, 0x00, 0x1c]);
        let two = [packet, packet].concat();
        let mut cc = Continuity::default();
        let a = retime(&two, 0, &mut cc);
        let b = retime(&two, 0, &mut cc);
        let counters: Vec<u8> = a.chunks(PACKET).chain(b.chunks(PACKET)).map(|p| p[3] & 0x0f).collect();
        assert_eq!(counters, vec![12, 13, 14, 15]);
    }

    #[test]
    fn arbitrary_bytes_do_not_panic() {
        let junk: Vec<u8> = (0..PACKET * 4).map(|i| if i % PACKET == 0 { SYNC } else { (i * 7) as u8 }).collect();
        assert_eq!(retime(&junk, 5, &mut Continuity::default()).len(), junk.len());
    }
}
