//! LDAP authentication against a real OpenLDAP (Debian's slapd) on
//! loopback: sign-in through `/c/login`, basic auth on `/api`, the token
//! service; on-boarding, import and search; escaping; lockout; outages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::ldap::{Slapd, MANAGER_DN, MANAGER_PASSWORD};
use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// People in two OUs, groups beside them.
const DIRECTORY: &str = "\
dn: ou=people,dc=berth,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=eng,ou=people,dc=berth,dc=test
objectClass: organizationalUnit
ou: eng

dn: ou=groups,dc=berth,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=eng,ou=people,dc=berth,dc=test
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@berth.test
userPassword: Alice-12345

dn: uid=bob,ou=people,dc=berth,dc=test
objectClass: inetOrgPerson
uid: bob
cn: Bob Dylan
sn: Dylan
userPassword: Bob-12345

dn: uid=carol,ou=people,dc=berth,dc=test
objectClass: inetOrgPerson
uid: carol
cn: Carol King
sn: King
mail: carol@berth.test
userPassword: Carol-12345

dn: cn=devs,ou=groups,dc=berth,dc=test
objectClass: groupOfNames
cn: devs
member: uid=alice,ou=eng,ou=people,dc=berth,dc=test
member: uid=bob,ou=people,dc=berth,dc=test

dn: cn=admins,ou=groups,dc=berth,dc=test
objectClass: groupOfNames
cn: admins
member: uid=carol,ou=people,dc=berth,dc=test

dn: cn=staff,ou=groups,dc=berth,dc=test
objectClass: groupOfNames
cn: staff
member: cn=devs,ou=groups,dc=berth,dc=test

dn: cn=everyone,ou=groups,dc=berth,dc=test
objectClass: groupOfNames
cn: everyone
member: cn=staff,ou=groups,dc=berth,dc=test
";

/// The settings that point a server at `ldap`.
fn settings(ldap: &Slapd) -> Value {
    json!({
        "auth_mode": "ldap_auth",
        "ldap_url": ldap.url,
        "ldap_search_dn": MANAGER_DN,
        "ldap_search_password": MANAGER_PASSWORD,
        "ldap_base_dn": "ou=people,dc=berth,dc=test",
        "ldap_filter": "objectClass=inetOrgPerson",
        "ldap_uid": "uid",
        "ldap_group_base_dn": "ou=groups,dc=berth,dc=test",
        "ldap_group_search_filter": "(objectClass=groupOfNames)",
        "ldap_group_admin_dn": "cn=admins,ou=groups,dc=berth,dc=test",
    })
}

/// A `/c/login` sign-in: its status and body.
async fn sign_in(s: &Server, user: &str, password: &str) -> (u16, String) {
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("principal", user)
        .append_pair("password", password)
        .finish();
    let r = (s.anon.post(s.u("/c/login")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Users sign in with their directory password (and only with it), are
/// on-boarded on their first sign-in, reach the API and the token service
/// with it; the search DN's password is sealed and never shown; a name
/// built to widen the search finds no one; local users cannot be made.
#[tokio::test]
async fn directory_users_sign_in_everywhere_and_only_as_themselves() {
    let ldap = Slapd::start(DIRECTORY).await;
    for s in servers().await {
        s.configure(settings(&ldap)).await.is(200);
        let cfg = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(cfg["auth_mode"]["value"], "ldap_auth");
        assert_eq!(cfg["ldap_uid"]["value"], "uid");
        assert!(cfg.get("ldap_search_password").is_none(), "{cfg}");
        let info = s
            .expect(Method::GET, "/systeminfo", None, None)
            .await
            .is(200);
        assert_eq!(info["auth_mode"], "ldap_auth");
        let db = s.open_db().await;
        let stored: String =
            sqlx::query_scalar("SELECT v FROM properties WHERE k = 'ldap_search_password'")
                .fetch_one(db.reader())
                .await
                .unwrap();
        assert!(!stored.contains(MANAGER_PASSWORD) && !stored.is_empty());

        assert_eq!(sign_in(&s, "alice", "wrong").await.0, 401);
        assert_eq!(sign_in(&s, "alice", "").await.0, 401);
        assert_eq!(sign_in(&s, "alice", "Alice-12345").await.0, 200);
        let alice = Some(("alice", "Alice-12345"));
        let me = s
            .expect(Method::GET, "/users/current", alice, None)
            .await
            .is(200);
        assert_eq!(me["username"], "alice");
        assert_eq!(me["email"], "alice@berth.test");
        assert_eq!(me["realname"], "Alice Liddell");
        assert_eq!(me["sysadmin_flag"], false);
        // A filter's metacharacters in a name are data, not filter.
        for name in ["*", "*)(uid=*", "alice)(|(uid=*"] {
            assert_eq!(sign_in(&s, name, "Alice-12345").await.0, 401, "{name}");
        }
        let q = "/ldap/users/search?username=%2A%29%28uid%3D%2A";
        let found = s.expect(Method::GET, q, ADMIN, None).await.is(200);
        assert_eq!(found, json!([]));

        // Directory users are granted projects like any user.
        let member = json!({"role_id": 2, "member_user": {"username": "alice"}});
        s.expect(Method::POST, "/projects/p/members", ADMIN, Some(&member))
            .await
            .is(201);
        let token = s
            .expect(
                Method::GET,
                "/service/token?service=harbor-registry&scope=repository:p/app:pull,push",
                alice,
                None,
            )
            .await
            .is(200);
        let claims = token_claims(token["token"].as_str().unwrap());
        assert_eq!(granted(&claims, "p/app"), ["pull", "push"]);
        let v2 = (s.anon.get(s.u("/v2/p/app/tags/list")))
            .basic_auth("bob", Some("wrong"))
            .send()
            .await
            .unwrap();
        expect_error(v2, 401, "UNAUTHORIZED").await;

        // The directory keeps users: none made, profiles and passwords
        // changed here (but the first administrator's).
        let new_user = json!({"username": "dave", "email": "d@x.io", "realname": "D",
            "password": "Passw0rd!"});
        let refused = s
            .expect(Method::POST, "/users", ADMIN, Some(&new_user))
            .await;
        let e = refused.error(403, "FORBIDDEN");
        assert!(
            e.to_string()
                .contains("not allowed under auth mode: ldap_auth"),
            "{e}"
        );
        let id = me["user_id"].as_i64().unwrap();
        let profile = json!({"email": "a@b.io", "realname": "A", "comment": ""});
        s.expect(Method::PUT, &format!("/users/{id}"), alice, Some(&profile))
            .await
            .error(403, "FORBIDDEN");
        let own = json!({"old_password": "Alice-12345", "new_password": "Passw0rd!2"});
        s.expect(
            Method::PUT,
            &format!("/users/{id}/password"),
            alice,
            Some(&own),
        )
        .await
        .error(403, "FORBIDDEN");
        // Users other than the first administrator exist: the mode stays.
        let back = s.configure(json!({"auth_mode": "db_auth"})).await;
        let e = back.error(400, "BAD_REQUEST");
        assert!(e.to_string().contains("cannot be modified"), "{e}");
        let cfg = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(cfg["auth_mode"]["editable"], false);
    }
}

/// Administrators search, import and test the directory; others may not.
#[tokio::test]
async fn administrators_search_import_and_ping_the_directory() {
    let ldap = Slapd::start(DIRECTORY).await;
    for s in servers().await {
        s.configure(settings(&ldap)).await.is(200);
        let all = s
            .expect(Method::GET, "/ldap/users/search", ADMIN, None)
            .await
            .is(200);
        let mut names: Vec<&str> = (all.as_array().unwrap().iter())
            .map(|u| u["username"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["alice", "bob", "carol"]);
        let carol = (s.expect(
            Method::GET,
            "/ldap/users/search?username=carol",
            ADMIN,
            None,
        ))
        .await
        .is(200);
        assert_eq!(
            carol,
            json!([{"username": "carol", "realname": "Carol King", "email": "carol@berth.test"}])
        );

        let import = json!({"ldap_uid_list": ["carol", "nobody", ""]});
        let r = s
            .expect(Method::POST, "/ldap/users/import", ADMIN, Some(&import))
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        let mut failed = r.json.as_array().unwrap().clone();
        failed.sort_by_key(|f| f["uid"].as_str().unwrap().to_string());
        assert_eq!(
            failed,
            [
                json!({"uid": "", "error": "empty_uid"}),
                json!({"uid": "nobody", "error": "unknown_user"})
            ]
        );
        let users = s
            .expect(Method::GET, "/users?q=username%3Dcarol", ADMIN, None)
            .await
            .is(200);
        assert_eq!(users[0]["email"], "carol@berth.test");
        let import = json!({"ldap_uid_list": ["carol"]});
        s.expect(Method::POST, "/ldap/users/import", ADMIN, Some(&import))
            .await
            .is(200);

        let devs = (s.expect(
            Method::GET,
            "/ldap/groups/search?groupname=devs",
            ADMIN,
            None,
        ))
        .await
        .is(200);
        assert_eq!(
            devs,
            json!([{"group_name": "devs", "ldap_group_dn": "cn=devs,ou=groups,dc=berth,dc=test"}])
        );
        let by_dn = "/ldap/groups/search?groupdn=cn%3Ddevs%2Cou%3Dgroups%2Cdc%3Dberth%2Cdc%3Dtest";
        assert_eq!(
            s.expect(Method::GET, by_dn, ADMIN, None).await.is(200),
            devs
        );
        (s.expect(
            Method::GET,
            "/ldap/groups/search?groupname=nobody",
            ADMIN,
            None,
        ))
        .await
        .error(404, "NOT_FOUND");

        let ping = |body: Value| {
            let s = &s;
            async move {
                s.expect(Method::POST, "/ldap/ping", ADMIN, Some(&body))
                    .await
                    .is(200)
            }
        };
        let stored = ping(json!({})).await;
        assert_eq!(stored, json!({"success": true, "message": ""}));
        let given = |url: &str, password: &str| {
            json!({"ldap_url": url, "ldap_search_dn": MANAGER_DN,
                "ldap_search_password": password, "ldap_base_dn": "dc=berth,dc=test",
                "ldap_uid": "uid", "ldap_scope": 2, "ldap_connection_timeout": 5,
                "ldap_verify_cert": false})
        };
        // The stored password stands in for one left out.
        assert_eq!(ping(given(&ldap.url, "")).await["success"], true);
        assert_eq!(ping(given(&ldap.ldaps_url, "")).await["success"], true);
        let wrong = ping(given(&ldap.url, "wrong")).await;
        assert_eq!(wrong["success"], false);
        assert!(
            wrong["message"].as_str().unwrap().starts_with("error: "),
            "{wrong}"
        );
        // A certificate nobody vouches for fails when it is verified.
        let mut verified = given(&ldap.ldaps_url, "");
        verified["ldap_verify_cert"] = json!(true);
        assert_eq!(ping(verified).await["success"], false);
        assert_eq!(
            ping(given("ldap://127.0.0.1:1", "")).await["success"],
            false
        );

        s.configure(json!({"ldap_start_tls": true, "ldap_verify_cert": false}))
            .await
            .is(200);
        assert_eq!(sign_in(&s, "carol", "Carol-12345").await.0, 200);
        s.configure(json!({"ldap_verify_cert": true})).await.is(200);
        assert_eq!(ping(json!({})).await["success"], false);

        // Only administrators (and robots granted it) reach the directory.
        let bob = Some(("bob", "Bob-12345"));
        s.configure(json!({"ldap_start_tls": false})).await.is(200);
        for (method, path) in [
            (Method::GET, "/ldap/users/search"),
            (Method::GET, "/ldap/groups/search?groupname=devs"),
            (Method::POST, "/ldap/ping"),
        ] {
            s.expect(method, path, bob, Some(&json!({})))
                .await
                .error(403, "FORBIDDEN");
        }
        let import = json!({"ldap_uid_list": ["bob"]});
        (s.expect(Method::POST, "/ldap/users/import", bob, Some(&import)))
            .await
            .error(403, "FORBIDDEN");
    }
}

/// Wrong directory passwords lock a user out as wrong local ones do; an
/// entry deleted from the directory no longer signs in; while the
/// directory is down, sign-in fails with a 401 that says so and the first
/// administrator still signs in.
#[tokio::test]
async fn lockouts_deletions_and_outages() {
    let mut ldap = Slapd::start(DIRECTORY).await;
    for s in servers().await {
        s.configure(settings(&ldap)).await.is(200);
        for _ in 0..10 {
            assert_eq!(sign_in(&s, "bob", "wrong").await.0, 401);
        }
        assert_eq!(sign_in(&s, "bob", "Bob-12345").await.0, 429);
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(sign_in(&s, "bob", "Bob-12345").await.0, 200);

        ldap.stop();
        let (status, body) = sign_in(&s, "carol", "Carol-12345").await;
        assert_eq!(status, 401);
        assert!(body.contains("LDAP server could not check"), "{body}");
        let basic = s.expect(
            Method::GET,
            "/users/current",
            Some(("carol", "Carol-12345")),
            None,
        );
        basic.await.error(401, "UNAUTHORIZED");
        assert_eq!(sign_in(&s, "admin", ADMIN_PASSWORD).await.0, 200);
        ldap.restart().await;
        assert_eq!(sign_in(&s, "carol", "Carol-12345").await.0, 200);

        let (name, dn) = (
            format!("temp-{}", s.backend),
            format!("uid=temp-{},ou=people,dc=berth,dc=test", s.backend),
        );
        ldap.add(&format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: T\nsn: T\nuserPassword: Temp-12345\n"
        ));
        assert_eq!(sign_in(&s, &name, "Temp-12345").await.0, 200);
        ldap.delete(&dn);
        assert_eq!(sign_in(&s, &name, "Temp-12345").await.0, 401);
    }
}

/// Directory groups become user groups that projects take as members: a
/// user's roles include their groups' (as of their last sign-in), the
/// group admin DN makes administrators, and a group's deletion takes its
/// memberships with it.
#[tokio::test]
async fn groups_grant_projects_and_the_admin_group_grants_admin() {
    let ldap = Slapd::start(DIRECTORY).await;
    let devs_dn = "cn=devs,ou=groups,dc=berth,dc=test";
    let (alice, carol) = (
        Some(("alice", "Alice-12345")),
        Some(("carol", "Carol-12345")),
    );
    for s in servers().await {
        s.configure(settings(&ldap)).await.is(200);
        let cfg = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(cfg["ldap_group_membership_attribute"]["value"], "memberof");
        let project = json!({"project_name": "gp", "metadata": {"public": "false"}});
        s.expect(Method::POST, "/projects", ADMIN, Some(&project))
            .await
            .is(201);

        // Groups the directory has, once each, LDAP groups only (a
        // member's sign-in adds theirs, as it would this one).
        let group = json!({"group_name": "developers", "group_type": 1, "ldap_group_dn": devs_dn});
        let r = s
            .expect(Method::POST, "/usergroups", ADMIN, Some(&group))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let location = r.header("location").to_string();
        let id: i64 = location.rsplit('/').next().unwrap().parse().unwrap();
        s.expect(Method::GET, "/projects/gp", alice, None)
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::POST, "/usergroups", ADMIN, Some(&group))
            .await
            .error(409, "CONFLICT");
        let missing = json!({"group_name": "x", "group_type": 1,
            "ldap_group_dn": "cn=nope,ou=groups,dc=berth,dc=test"});
        let e = s
            .expect(Method::POST, "/usergroups", ADMIN, Some(&missing))
            .await
            .error(400, "BAD_REQUEST");
        assert!(e.to_string().contains("LDAP Group DN is not found"), "{e}");
        let http = json!({"group_name": "web", "group_type": 2});
        s.expect(Method::POST, "/usergroups", ADMIN, Some(&http))
            .await
            .error(400, "BAD_REQUEST");
        s.expect(Method::POST, "/usergroups", alice, Some(&group))
            .await
            .error(403, "FORBIDDEN");
        let by_dn = "/usergroups?ldap_group_dn=CN%3DDevs%2C%20ou%3Dgroups%2Cdc%3Dberth%2Cdc%3Dtest";
        let listed = s.expect(Method::GET, by_dn, ADMIN, None).await.is(200);
        assert_eq!(
            listed,
            json!([{"id": id, "group_name": "developers", "group_type": 1, "ldap_group_dn": devs_dn}])
        );
        let found = s
            .expect(
                Method::GET,
                "/usergroups/search?groupname=velop",
                alice,
                None,
            )
            .await
            .is(200);
        assert_eq!(
            found,
            json!([{"id": id, "group_name": "developers", "group_type": 1}])
        );
        s.expect(Method::GET, "/usergroups/search", alice, None)
            .await
            .error(400, "BAD_REQUEST");
        s.expect(Method::GET, "/usergroups", alice, None)
            .await
            .error(403, "FORBIDDEN");

        // The group as a developer of gp: alice (in devs) pushes there.
        let member = json!({"role_id": 2, "member_group": {"id": id}});
        s.expect(Method::POST, "/projects/gp/members", ADMIN, Some(&member))
            .await
            .is(201);
        let members = s
            .expect(
                Method::GET,
                "/projects/gp/members?entityname=develop",
                ADMIN,
                None,
            )
            .await
            .is(200);
        assert_eq!(members[0]["entity_type"], "g");
        assert_eq!(members[0]["entity_name"], "developers");
        assert_eq!(members[0]["role_name"], "developer");
        s.expect(Method::GET, "/projects/gp", alice, None)
            .await
            .is(200);
        let scope = "/service/token?service=harbor-registry&scope=repository:gp/app:pull,push";
        let token = s.expect(Method::GET, scope, alice, None).await.is(200);
        let claims = token_claims(token["token"].as_str().unwrap());
        assert_eq!(granted(&claims, "gp/app"), ["pull", "push"]);
        let listed = s
            .expect(Method::GET, "/projects?name=gp", alice, None)
            .await
            .is(200);
        assert_eq!(listed[0]["name"], "gp");

        // carol is in the admin group: an administrator, not by flag.
        let me = s
            .expect(Method::GET, "/users/current", carol, None)
            .await
            .is(200);
        assert_eq!(me["sysadmin_flag"], false);
        assert_eq!(me["admin_role_in_auth"], true);
        s.expect(Method::GET, "/configurations", carol, None)
            .await
            .is(200);
        s.expect(Method::GET, "/configurations", alice, None)
            .await
            .error(403, "FORBIDDEN");

        // A member named by DN adds the directory's group here.
        let by_dn = json!({"role_id": 3,
            "member_group": {"ldap_group_dn": "cn=admins,ou=groups,dc=berth,dc=test"}});
        s.expect(Method::POST, "/projects/gp/members", alice, Some(&by_dn))
            .await
            .error(403, "FORBIDDEN");
        s.expect(Method::POST, "/projects/gp/members", ADMIN, Some(&by_dn))
            .await
            .is(201);
        let all = s
            .expect(Method::GET, "/usergroups", ADMIN, None)
            .await
            .is(200);
        assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
        assert_eq!(all[1]["group_name"], "admins");

        // Renamed, then deleted: the membership goes with the group.
        let renamed = json!({"group_name": "engineers"});
        let path = format!("/usergroups/{id}");
        s.expect(Method::PUT, &path, ADMIN, Some(&renamed))
            .await
            .is(200);
        let got = s.expect(Method::GET, &path, ADMIN, None).await.is(200);
        assert_eq!(got["group_name"], "engineers");
        s.expect(Method::DELETE, &path, ADMIN, None).await.is(200);
        s.expect(Method::GET, &path, ADMIN, None)
            .await
            .error(404, "NOT_FOUND");
        s.expect(Method::GET, "/projects/gp", alice, None)
            .await
            .error(403, "FORBIDDEN");
        // The audit log is written in the background.
        let logged = ["create developers", "update engineers", "delete engineers"];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let q = "/auditlog-exts?q=resource_type%3Duser_group&page_size=100";
            let logs = s.expect(Method::GET, q, ADMIN, None).await.is(200);
            let seen: Vec<String> = (logs.as_array().unwrap().iter())
                .map(|l| {
                    format!(
                        "{} {}",
                        l["operation"].as_str().unwrap(),
                        l["resource"].as_str().unwrap()
                    )
                })
                .collect();
            if logged.iter().all(|l| seen.iter().any(|s| s == l)) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{seen:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Nested groups (Berth's `ldap_nested_groups`): alice is in devs, devs in
/// staff, staff in everyone. Off, only devs counts; on, a project granted
/// to everyone is hers, and the groups she gained are recorded. Members
/// named by username are on-boarded from the directory.
#[tokio::test]
async fn nested_groups_count_when_asked() {
    let ldap = Slapd::start(DIRECTORY).await;
    let alice = Some(("alice", "Alice-12345"));
    for s in servers().await {
        s.configure(settings(&ldap)).await.is(200);
        let project = json!({"project_name": "np", "metadata": {"public": "false"}});
        s.expect(Method::POST, "/projects", ADMIN, Some(&project))
            .await
            .is(201);
        let member = json!({"role_id": 3,
            "member_group": {"ldap_group_dn": "cn=everyone,ou=groups,dc=berth,dc=test"}});
        s.expect(Method::POST, "/projects/np/members", ADMIN, Some(&member))
            .await
            .is(201);
        s.expect(Method::GET, "/projects/np", alice, None)
            .await
            .error(403, "FORBIDDEN");
        // A directory user who never signed in is on-boarded as a member by name.
        let carol = json!({"role_id": 3, "member_user": {"username": "carol"}});
        s.expect(Method::POST, "/projects/np/members", ADMIN, Some(&carol))
            .await
            .is(201);
        let found = s
            .expect(Method::GET, "/users?username=carol", ADMIN, None)
            .await
            .is(200);
        assert_eq!(found[0]["email"], "carol@berth.test");
        let nobody = json!({"role_id": 3, "member_user": {"username": "zed"}});
        s.expect(Method::POST, "/projects/np/members", ADMIN, Some(&nobody))
            .await
            .error(404, "NOT_FOUND");
        let cfg = s
            .expect(Method::GET, "/configurations", ADMIN, None)
            .await
            .is(200);
        assert_eq!(cfg["ldap_nested_groups"]["value"], false);

        s.configure(json!({"ldap_nested_groups": true}))
            .await
            .is(200);
        s.expect(Method::GET, "/projects/np", alice, None)
            .await
            .is(200);
        let groups = s
            .expect(Method::GET, "/usergroups", ADMIN, None)
            .await
            .is(200);
        let mut names: Vec<_> = (groups.as_array().unwrap().iter())
            .map(|g| g["group_name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["devs", "everyone", "staff"]);
    }
}
