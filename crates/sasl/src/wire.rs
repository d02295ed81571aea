//! The base64 framing of SASL messages inside protocol lines (RFC 4422 §4;
//! POP3 RFC 5034 §4, IMAP RFC 9051 §6.2.2, SMTP RFC 4954 §4).

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

use crate::error::SaslError;

/// Standard alphabet; padding accepted whether present or not (some
/// clients omit it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A decoded client line during an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientResponse {
    /// The client's data (possibly empty).
    Data(Vec<u8>),
    /// `*`: the client cancels the exchange (RFC 4422 §3.5).
    Cancel,
}

/// Decodes a response line (without CRLF) sent after a challenge: `*`
/// cancels, an empty line is an empty response, anything else is base64.
pub fn decode_response(line: &[u8]) -> Result<ClientResponse, SaslError> {
    match line {
        b"*" => Ok(ClientResponse::Cancel),
        b"" => Ok(ClientResponse::Data(Vec::new())),
        _ => LENIENT
            .decode(line)
            .map(ClientResponse::Data)
            .map_err(|_| SaslError::Malformed("response is not base64")),
    }
}

/// Decodes an initial response given on the command line (SASL-IR): `=`
/// stands for an empty response (RFC 5034 §4, RFC 4959 §3), anything else
/// is base64.
pub fn decode_initial_response(arg: &[u8]) -> Result<Vec<u8>, SaslError> {
    match arg {
        b"=" => Ok(Vec::new()),
        b"" => Err(SaslError::Malformed("empty initial response argument")),
        _ => LENIENT
            .decode(arg)
            .map_err(|_| SaslError::Malformed("initial response is not base64")),
    }
}

/// Encodes a challenge for the wire (empty challenge → empty string).
pub fn encode_challenge(challenge: &[u8]) -> String {
    STANDARD.encode(challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        assert_eq!(decode_response(b"*").unwrap(), ClientResponse::Cancel);
        assert_eq!(decode_response(b"").unwrap(), ClientResponse::Data(vec![]));
        assert_eq!(
            decode_response(b"AGFsaWNlAHNlY3JldA==").unwrap(),
            ClientResponse::Data(b"\0alice\0secret".to_vec())
        );
        assert_eq!(
            decode_response(b"AGFsaWNlAHNlY3JldA").unwrap(),
            ClientResponse::Data(b"\0alice\0secret".to_vec())
        );
        assert!(decode_response(b"not base64!").is_err());
        assert_eq!(decode_initial_response(b"=").unwrap(), Vec::<u8>::new());
        assert!(decode_initial_response(b"").is_err());
        assert_eq!(encode_challenge(b""), "");
        assert_eq!(encode_challenge(b"Username:"), "VXNlcm5hbWU6");
    }
}
