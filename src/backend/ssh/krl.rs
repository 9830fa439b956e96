//! OpenSSH key revocation lists (`PROTOCOL.krl`): the part jit writes, certificate serials
//! revoked under one certificate authority. Hosts read the file through `RevokedKeys`.

/// `"SSHKRL\n\0"`.
const MAGIC: u64 = 0x5353_484b_524c_0a00;
const FORMAT_VERSION: u32 = 1;
const SECTION_CERTIFICATES: u8 = 1;
const CERT_SECTION_SERIAL_LIST: u8 = 0x20;

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A KRL revoking `serials` (any order, duplicates allowed) of certificates signed by the CA
/// whose public key blob is `ca_key_blob`. Serial 0 is left out: OpenSSH refuses a whole KRL
/// that lists it (and sshd then refuses every key), and jit issues no certificate with it.
pub fn encode(
    ca_key_blob: &[u8],
    serials: &[u64],
    krl_version: u64,
    generated: u64,
    comment: &str,
) -> Vec<u8> {
    let mut sorted = serials.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.retain(|&serial| serial != 0);

    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&krl_version.to_be_bytes());
    out.extend_from_slice(&generated.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // flags
    put_string(&mut out, b""); // reserved
    put_string(&mut out, comment.as_bytes());

    if !sorted.is_empty() {
        let mut list = Vec::with_capacity(sorted.len() * 8);
        for serial in &sorted {
            list.extend_from_slice(&serial.to_be_bytes());
        }
        let mut section = Vec::new();
        put_string(&mut section, ca_key_blob);
        put_string(&mut section, b""); // reserved
        section.push(CERT_SECTION_SERIAL_LIST);
        put_string(&mut section, &list);

        out.push(SECTION_CERTIFICATES);
        put_string(&mut out, &section);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_protocol() {
        let krl = encode(b"KEY", &[9, 3, 9], 7, 1000, "jit");
        assert_eq!(&krl[..8], b"SSHKRL\n\0");
        assert_eq!(u32::from_be_bytes(krl[8..12].try_into().unwrap()), 1);
        assert_eq!(u64::from_be_bytes(krl[12..20].try_into().unwrap()), 7);
        assert_eq!(u64::from_be_bytes(krl[20..28].try_into().unwrap()), 1000);
        // flags, empty reserved, comment "jit"
        assert_eq!(&krl[28..36], &[0; 8]);
        assert_eq!(&krl[36..40], &[0, 0, 0, 0]);
        assert_eq!(&krl[40..47], &[0, 0, 0, 3, b'j', b'i', b't']);
        assert_eq!(krl[47], SECTION_CERTIFICATES);
        // the serials come sorted and once each, at the end
        let tail = &krl[krl.len() - 16..];
        assert_eq!(tail, &[0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 9]);
    }

    #[test]
    fn serial_zero_is_left_out() {
        assert_eq!(
            encode(b"KEY", &[0], 1, 1, ""),
            encode(b"KEY", &[], 1, 1, "")
        );
        assert_eq!(
            encode(b"KEY", &[5, 0, 0], 1, 1, ""),
            encode(b"KEY", &[5], 1, 1, "")
        );
    }

    #[test]
    fn an_empty_list_has_no_section() {
        assert_eq!(
            encode(b"KEY", &[], 1, 1, "").len(),
            8 + 4 + 8 + 8 + 8 + 4 + 4
        );
    }
}
