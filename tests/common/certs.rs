//! Throwaway PKI for TLS tests, made with rcgen at test time: a CA, a
//! server certificate for `localhost` and 127.0.0.1, and client
//! certificates, written as PEM files into a temporary directory.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// A certificate authority that can sign leaf certificates.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    /// The CA certificate as a PEM file.
    pub pem: PathBuf,
}

/// A certificate and its key as PEM files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        let pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem, cert.pem()).expect("write ca");
        Ca { cert, key, pem }
    }

    fn sign(&self, dir: &Path, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf");
        let leaf = Leaf {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&leaf.cert, cert.pem()).expect("write cert");
        std::fs::write(&leaf.key, key.serialize_pem()).expect("write key");
        leaf
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self, dir: &Path, name: &str) -> Leaf {
        self.sign(
            dir,
            name,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate.
    pub fn client(&self, dir: &Path, name: &str) -> Leaf {
        self.sign(dir, name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A path as a command-line argument.
pub fn arg(p: &Path) -> String {
    p.display().to_string()
}
