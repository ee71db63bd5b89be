//! `ca_file`: a PEM file of CA certificates a receiver trusts for a server whose
//! certificate an internal or self-signed CA issued. Read and checked at start-up, so that
//! a wrong path or file stops the start; what the file holds is then handed to lettre
//! (email) or ureq (the HTTP receivers), which both read PEM with rustls-pki-types.

use std::fmt::Display;

use crate::deliver::DeliveryError;
use crate::error::NotifyError;

/// The bytes of the PEM file `path`, which holds at least one certificate block.
pub(crate) fn read(receiver: &str, path: &str) -> Result<Vec<u8>, NotifyError> {
    let pem = std::fs::read(path).map_err(|error| {
        NotifyError::config(
            receiver,
            "ca_file",
            format!("names the file {path}, which cannot be read ({error})"),
        )
    })?;
    // lettre and ureq both read a file without a certificate block as an empty list,
    // which would trust nothing and fail only at the first delivery. The PEM reader
    // (rustls-pki-types) starts a block only at a line starting with the marker, as
    // counted here.
    let blocks = pem
        .split(|byte| *byte == b'\n')
        .filter(|line| line.starts_with(b"-----BEGIN CERTIFICATE-----"))
        .count();
    if blocks == 0 {
        return Err(NotifyError::config(
            receiver,
            "ca_file",
            format!(
                "names the file {path}, which holds no PEM certificate (no \
                 `-----BEGIN CERTIFICATE-----` line): give the CA's certificate in PEM \
                 (`openssl x509 -inform der -in ca.der -out ca.pem` converts a DER file)"
            ),
        ));
    }
    Ok(pem)
}

/// The error for a file whose certificate blocks the PEM reader refused.
pub(crate) fn invalid_pem(receiver: &str, path: &str, error: impl Display) -> NotifyError {
    NotifyError::config(
        receiver,
        "ca_file",
        format!(
            "names the file {path}, whose certificates are not valid PEM ({error}): give the \
             CA's certificate in PEM"
        ),
    )
}

/// Whether rustls refused the server's certificate, from the text of the error lettre or
/// ureq made of it: rustls's own error type is not reachable through lettre (which keeps
/// it as an `io::Error`'s inner error), so the prefix rustls puts on every certificate
/// error is what is matched; the TLS tests against real servers with an unknown CA hold
/// both receivers to it.
pub(crate) fn is_certificate_rejected(error_text: &str) -> bool {
    error_text.contains("invalid peer certificate")
}

/// A refused certificate as a delivery failure: permanent, since an unknown issuer, another
/// host's name or an expired certificate stays so until someone changes the configuration
/// or the server's certificate. `server` is who presented it, `address` the field or URL
/// that names the host.
pub(crate) fn certificate_not_trusted(
    server: &str,
    cause: impl Display,
    address: &str,
) -> DeliveryError {
    DeliveryError::permanent(format!(
        "{server}'s certificate is not trusted ({cause}): for a server with an internal or \
         self-signed certificate give its CA's certificate in `ca_file`; {address} must name \
         a host the certificate is issued for"
    ))
}
