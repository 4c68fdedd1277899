//! Cosign-compatible signatures: key pairs in cosign's encrypted format, simple-signing payloads stored as
//! layers of the `sha256-<digest>.sig` tag next to the module (cosign's "legacy" tag scheme, which every
//! registry supports), signed and verified in-process with the `sigstore` crate.

use std::collections::BTreeMap;

use base64::Engine as _;
use sigstore::cosign::payload::simple_signing::{CRITICAL_TYPE_NAME, Critical, Identity, Image, SimpleSigning};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, Signature, SigningScheme};

use crate::SupplyError;
use crate::artifact::{Blob, Descriptor, ImageManifest, OCI_MANIFEST_MEDIA_TYPE, sha256_digest};
use crate::registry::{Reference, Registry, repository_name};

/// Media type of a signature payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The environment variable cosign reads the key password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";
const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The largest signature payload accepted.
const MAX_PAYLOAD_SIZE: u64 = 64 * 1024;

/// The tag holding the signatures of the manifest with `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// A new cosign-compatible key pair: the private key encrypted with `password` (PEM, `ENCRYPTED SIGSTORE
/// PRIVATE KEY`, as `cosign generate-key-pair` writes it) and the public key (PEM).
pub fn generate_key_pair(password: &[u8]) -> Result<(String, String), SupplyError> {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .map_err(|error| SupplyError::Key(format!("cannot generate a key pair: {error}")))?;
    let pair = signer
        .to_sigstore_keypair()
        .map_err(|error| SupplyError::Key(format!("cannot export the key pair: {error}")))?;
    let private = pair
        .private_key_to_encrypted_pem(password)
        .map_err(|error| SupplyError::Key(format!("cannot encrypt the private key: {error}")))?;
    let public =
        pair.public_key_to_pem().map_err(|error| SupplyError::Key(format!("cannot export the public key: {error}")))?;
    Ok((private.to_string(), public))
}

/// A private key to sign with.
pub struct SigningKey {
    signer: SigStoreSigner,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public", &self.public.id).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an encrypted private key (cosign's or ours) with its password.
    pub fn from_encrypted_pem(pem: &str, password: &[u8]) -> Result<Self, SupplyError> {
        let pair = SigStoreKeyPair::from_encrypted_pem(pem.as_bytes(), password).map_err(|error| {
            SupplyError::Key(format!(
                "cannot decrypt the private key ({error}); check the password (${PASSWORD_ENV}) and that the file \
                 is a cosign private key"
            ))
        })?;
        // cosign writes ECDSA P-256 keys; the other schemes sigstore supports are accepted too.
        let schemes = [
            SigningScheme::ECDSA_P256_SHA256_ASN1,
            SigningScheme::ECDSA_P384_SHA384_ASN1,
            SigningScheme::ECDSA_P521_SHA512_ASN1,
            SigningScheme::ED25519,
        ];
        let signer = schemes.iter().find_map(|scheme| pair.to_sigstore_signer(scheme).ok()).ok_or_else(|| {
            SupplyError::Key(format!("unsupported private key type ({pair}); use an ECDSA P-256 key"))
        })?;
        let public_pem = pair
            .public_key_to_pem()
            .map_err(|error| SupplyError::Key(format!("cannot export the public key: {error}")))?;
        Ok(Self { signer, public: PublicKey::from_pem(&public_pem)? })
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, payload: &[u8]) -> Result<String, SupplyError> {
        let signature = self.signer.sign(payload).map_err(|error| SupplyError::Key(format!("cannot sign: {error}")))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(signature))
    }
}

/// A public key whose signatures are trusted.
pub struct PublicKey {
    key: CosignVerificationKey,
    /// `sha256:<hex>` of the key's DER (SubjectPublicKeyInfo): how the signer is named in status.
    pub id: String,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads a PEM public key (`cosign.pub`).
    pub fn from_pem(pem: &str) -> Result<Self, SupplyError> {
        let invalid = |message: String| SupplyError::Key(format!("not a usable PEM public key: {message}"));
        let key = CosignVerificationKey::try_from_pem(pem.as_bytes()).map_err(|error| invalid(error.to_string()))?;
        let block = pem_der(pem).ok_or_else(|| invalid("no PEM block".to_owned()))?;
        Ok(Self { key, id: sha256_digest(&block) })
    }

    fn verifies(&self, signature: &str, payload: &[u8]) -> bool {
        self.key.verify_signature(Signature::Base64Encoded(signature.as_bytes()), payload).is_ok()
    }
}

/// The DER bytes of the first PEM block.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|line| !line.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .map(str::trim)
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The simple-signing payload cosign signs for the manifest `digest` of `reference`'s repository.
pub fn simple_signing_payload(reference: &Reference, digest: &str) -> Vec<u8> {
    let payload = SimpleSigning {
        critical: Critical {
            identity: Identity { docker_reference: repository_name(reference) },
            image: Image { docker_manifest_digest: digest.to_owned() },
            type_name: CRITICAL_TYPE_NAME.to_owned(),
        },
        optional: None,
    };
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// What [`sign`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignOutcome {
    /// Where the signatures are: `registry/repository:sha256-<hex>.sig`.
    pub signature_reference: String,
    /// How many signatures the tag holds now.
    pub signatures: usize,
    /// False when this key had already signed this digest (nothing was pushed).
    pub added: bool,
}

/// Signs the manifest `digest` in `reference`'s repository with `key`, adding the signature to those already
/// under the signature tag.
pub async fn sign(
    registry: &Registry,
    reference: &Reference,
    digest: &str,
    key: &SigningKey,
) -> Result<SignOutcome, SupplyError> {
    let signature_reference =
        Reference::with_tag(reference.registry().to_owned(), reference.repository().to_owned(), signature_tag(digest));
    registry.authenticate(&signature_reference, oci_client::RegistryOperation::Push).await?;
    let mut layers = match registry.try_pull_manifest(&signature_reference).await? {
        Some((manifest, _, _)) => manifest.layers,
        None => Vec::new(),
    };
    let payload = simple_signing_payload(reference, digest);
    let payload_digest = sha256_digest(&payload);
    let already = layers.iter().any(|layer| {
        layer.digest == payload_digest
            && layer
                .annotations
                .get(SIGNATURE_ANNOTATION)
                .is_some_and(|signature| key.public.verifies(signature, &payload))
    });
    if already {
        return Ok(SignOutcome {
            signature_reference: signature_reference.whole(),
            signatures: layers.len(),
            added: false,
        });
    }
    let signature = key.sign(&payload)?;
    let mut layer = Blob::new(SIMPLE_SIGNING_MEDIA_TYPE, payload);
    layer.descriptor.annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature);
    registry.push_blob(&signature_reference, &layer.descriptor.digest, &layer.data).await?;
    layers.push(layer.descriptor);

    // An image config like cosign's: the payloads are the layers' diff IDs.
    let diff_ids: Vec<&str> = layers.iter().map(|layer| layer.digest.as_str()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {},
    });
    let config = Blob::new(IMAGE_CONFIG_MEDIA_TYPE, serde_json::to_vec(&config).unwrap_or_default());
    registry.push_blob(&signature_reference, &config.descriptor.digest, &config.data).await?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
        config: config.descriptor,
        layers,
        annotations: BTreeMap::new(),
    };
    let signatures = manifest.layers.len();
    registry.push_manifest(&signature_reference, &serde_json::to_vec(&manifest).unwrap_or_default()).await?;
    Ok(SignOutcome { signature_reference: signature_reference.whole(), signatures, added: true })
}

/// Whose signature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The [`PublicKey::id`] of the key that verified it.
    pub key_id: String,
    /// The payload's `docker-reference`.
    pub docker_reference: String,
}

/// Checks that the manifest `digest` in `reference`'s repository carries a signature by one of `keys` whose
/// payload names this digest and this repository.
pub async fn verify(
    registry: &Registry,
    reference: &Reference,
    digest: &str,
    keys: &[PublicKey],
) -> Result<VerifiedSignature, SupplyError> {
    let tag = signature_tag(digest);
    let signature_reference =
        Reference::with_tag(reference.registry().to_owned(), reference.repository().to_owned(), tag.clone());
    let missing = || SupplyError::SignatureMissing {
        reference: reference.whole(),
        digest: digest.to_owned(),
        signature_tag: tag.clone(),
    };
    let Some((manifest, _, _)) = registry.try_pull_manifest(&signature_reference).await? else {
        return Err(missing());
    };
    let candidates: Vec<&Descriptor> =
        manifest.layers.iter().filter(|layer| layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE).collect();
    if candidates.is_empty() {
        return Err(missing());
    }
    let expected_repository = normalize_repository(&repository_name(reference));
    let mut problems = Vec::new();
    for (index, layer) in candidates.into_iter().enumerate() {
        let number = index + 1;
        let Some(signature) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
            problems.push(format!("signature {number} has no {SIGNATURE_ANNOTATION} annotation"));
            continue;
        };
        let payload =
            match registry.pull_blob(&signature_reference, layer, "a signature payload", MAX_PAYLOAD_SIZE).await {
                Ok(payload) => payload,
                Err(error) => {
                    problems.push(format!("signature {number}: {error}"));
                    continue;
                }
            };
        let Some(key) = keys.iter().find(|key| key.verifies(signature, &payload)) else {
            problems.push(format!("signature {number} is not by a trusted key"));
            continue;
        };
        let parsed: SimpleSigning = match serde_json::from_slice(&payload) {
            Ok(parsed) => parsed,
            Err(error) => {
                problems.push(format!("signature {number} by {}: the payload is not simple signing: {error}", key.id));
                continue;
            }
        };
        if parsed.critical.image.docker_manifest_digest != digest {
            problems.push(format!(
                "signature {number} by {} is for digest {}, not {digest}",
                key.id, parsed.critical.image.docker_manifest_digest
            ));
            continue;
        }
        let signed_repository = normalize_repository(&parsed.critical.identity.docker_reference);
        if signed_repository != expected_repository {
            problems.push(format!(
                "signature {number} by {} is for repository {}, not {expected_repository}",
                key.id, parsed.critical.identity.docker_reference
            ));
            continue;
        }
        return Ok(VerifiedSignature {
            key_id: key.id.clone(),
            docker_reference: parsed.critical.identity.docker_reference,
        });
    }
    Err(SupplyError::SignatureInvalid { reference: reference.whole(), digest: digest.to_owned(), problems })
}

/// `registry/repository` without a tag or digest, Docker Hub spelled one way.
fn normalize_repository(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let without_tag = match without_digest.rfind(':') {
        Some(colon) if !without_digest[colon..].contains('/') => &without_digest[..colon],
        _ => without_digest,
    };
    for hub in ["index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = without_tag.strip_prefix(hub) {
            return format!("docker.io/{rest}");
        }
    }
    without_tag.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_pairs_round_trip_and_sign() {
        let (private, public) = generate_key_pair(b"pw").unwrap();
        assert!(private.contains("ENCRYPTED SIGSTORE PRIVATE KEY"), "{private}");
        let key = SigningKey::from_encrypted_pem(&private, b"pw").unwrap();
        let public = PublicKey::from_pem(&public).unwrap();
        assert_eq!(key.public_key().id, public.id);
        let signature = key.sign(b"payload").unwrap();
        assert!(public.verifies(&signature, b"payload"));
        assert!(!public.verifies(&signature, b"other payload"));
        let error = SigningKey::from_encrypted_pem(&private, b"wrong").unwrap_err();
        assert!(error.to_string().contains("COSIGN_PASSWORD"), "{error}");
    }

    #[test]
    fn payload_matches_cosign() {
        let reference: Reference = "127.0.0.1:5000/team/web:1.0".parse().unwrap();
        let payload = String::from_utf8(simple_signing_payload(&reference, "sha256:abc")).unwrap();
        assert_eq!(
            payload,
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/web"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"cosign container image signature"},"optional":null}"#
        );
        assert_eq!(signature_tag("sha256:abc"), "sha256-abc.sig");
    }

    #[test]
    fn repositories_are_compared_without_tags() {
        assert_eq!(normalize_repository("127.0.0.1:5000/team/web:1.0"), "127.0.0.1:5000/team/web");
        assert_eq!(normalize_repository("127.0.0.1:5000/team/web"), "127.0.0.1:5000/team/web");
        assert_eq!(normalize_repository("index.docker.io/library/x@sha256:1"), "docker.io/library/x");
    }
}
