use super::settings::{PermissionConfig, TokenConfig, UserConfig};
use super::*;

fn config() -> AuthConfig {
    AuthConfig {
        users: vec![
            UserConfig {
                name: "app".into(),
                password_hash: hash_password("app-pw").unwrap(),
                roles: vec!["producers".into()],
            },
            UserConfig {
                name: "ops".into(),
                password_hash: hash_password("ops-pw").unwrap(),
                roles: vec![],
            },
        ],
        tokens: vec![TokenConfig {
            user: "ops".into(),
            sha256: sha256_hex("tok"),
        }],
        permissions: vec![
            PermissionConfig {
                role: Some("producers".into()),
                user: None,
                destinations: "/queue/orders.>".into(),
                allow: vec![Access::Read, Access::Write],
            },
            PermissionConfig {
                role: None,
                user: Some("ops".into()),
                destinations: ">".into(),
                allow: vec![Access::Admin],
            },
        ],
        ..AuthConfig::default()
    }
}

#[test]
fn users_roles_and_tokens() {
    let auth = Auth::from_config(&config());
    assert!(auth.verify_password("app", "wrong").is_none());
    assert!(auth.verify_password("nobody", "app-pw").is_none());
    let app = auth.verify_password("app", "app-pw").unwrap();
    // Second time from the cache, still checked.
    assert!(auth.verify_password("app", "app-pw").is_some());
    assert!(auth.verify_password("app", "wrong").is_none());
    let orders = Destination::Queue("orders.eu".into());
    assert!(app.allows(Access::Write, &orders));
    assert!(!app.allows(Access::Admin, &orders));
    assert!(!app.allows(Access::Read, &Destination::Queue("other".into())));
    assert!(!app.is_admin());
    let ops = auth.verify_token("tok").unwrap();
    assert_eq!(ops.name, "ops");
    assert!(ops.is_admin() && ops.allows(Access::Read, &orders));
    assert!(auth.verify_token("nope").is_none());
}

#[test]
fn no_permissions_means_everything_and_generated_admin() {
    let mut c = config();
    c.permissions.clear();
    let auth = Auth::from_config(&c);
    assert!(auth.verify_password("app", "app-pw").unwrap().is_admin());
    let (auth, ours) = Auth::generated().unwrap();
    assert!(crate::auth::verify_password(&ours.password, &ours.hash));
    assert!(auth
        .verify_password(GENERATED_USER, &ours.password)
        .unwrap()
        .is_admin());
    assert!(auth.verify_password(GENERATED_USER, "admin").is_none());
    // Another node's password replaces ours (the cached check too).
    let (_, theirs) = Auth::generated().unwrap();
    auth.use_generated_hash(&theirs.hash);
    assert!(auth
        .verify_password(GENERATED_USER, &ours.password)
        .is_none());
    assert!(auth
        .verify_password(GENERATED_USER, &theirs.password)
        .unwrap()
        .is_admin());
}

#[test]
fn anonymous_gets_role_anonymous_or_everything_without_permissions() {
    let mut c = config();
    let orders = Destination::Queue("orders.eu".into());
    assert!(!Auth::from_config(&c)
        .anonymous()
        .allows(Access::Read, &orders));
    c.permissions.push(PermissionConfig {
        role: Some(ANONYMOUS.into()),
        user: None,
        destinations: "/queue/orders.*".into(),
        allow: vec![Access::Read],
    });
    let anon = Auth::from_config(&c).anonymous();
    assert_eq!(anon.name, ANONYMOUS);
    assert!(anon.allows(Access::Read, &orders));
    assert!(!anon.allows(Access::Write, &orders));
    c.permissions.clear();
    assert!(Auth::from_config(&c).anonymous().is_admin());
}
