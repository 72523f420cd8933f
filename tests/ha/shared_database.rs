//! The master/slave tests every shared database server must pass, written
//! once: `shared_database_tests!(db, private_server)` expands to them in the
//! module of one backend (postgres.rs, mariadb.rs), so each test's name
//! reads `<backend>::<promise>`. `db` makes a fresh database on the local
//! server; `private_server` starts a private server the test may crash.
//! The scenarios themselves are in tests/common/scenarios.rs.

macro_rules! shared_database_tests {
    ($db:expr, $private_server:expr) => {
        use crate::common::cluster::{self, Db, PrivateServer, Settings};

        #[tokio::test]
        async fn session_two_nodes_one_master_the_slave_refuses_stomp() {
            cluster::one_master_among($db, Settings::fast(None), 2).await;
        }

        #[tokio::test]
        async fn session_three_nodes_started_at_once_on_an_empty_database_elect_one_master() {
            cluster::one_master_among($db, Settings::fast(Some("session")), 3).await;
        }

        #[tokio::test]
        async fn lease_three_nodes_started_at_once_on_an_empty_database_elect_one_master() {
            cluster::one_master_among($db, Settings::fast(Some("lease")), 3).await;
        }

        #[tokio::test]
        async fn session_kill9_fails_over_without_waiting_for_the_lease() {
            // The lease outlasts the guard: each takeover must come from the
            // database freeing the dead master's session lock.
            cluster::kill9_failover($db, Settings::long_lease(Some("session")), 3).await;
        }

        #[tokio::test]
        async fn lease_kill9_fails_over_after_the_lease() {
            cluster::kill9_failover($db, Settings::fast(Some("lease")), 2).await;
        }

        #[tokio::test]
        async fn session_sigterm_hands_over_at_once_and_loses_nothing() {
            cluster::graceful_handover($db, Some("session")).await;
        }

        #[tokio::test]
        async fn lease_sigterm_hands_over_at_once_and_loses_nothing() {
            cluster::graceful_handover($db, Some("lease")).await;
        }

        #[tokio::test]
        async fn session_partitioned_master_steps_down_and_its_stuck_commit_is_fenced() {
            cluster::partition($db, "session").await;
        }

        #[tokio::test]
        async fn lease_partitioned_master_steps_down_and_its_stuck_commit_is_fenced() {
            cluster::partition($db, "lease").await;
        }

        #[tokio::test]
        async fn session_partition_in_the_middle_of_a_commit_does_not_block_failover() {
            cluster::partition_mid_commit($db, "session").await;
        }

        #[tokio::test]
        async fn lease_a_commit_whose_answer_is_lost_is_read_back_before_the_client_hears() {
            cluster::commit_answer_lost($db).await;
        }

        #[tokio::test]
        async fn session_stale_claim_of_the_session_lock_holder_does_not_depose_a_live_master() {
            cluster::session_claim_race($db).await;
        }

        #[tokio::test]
        async fn session_database_crash_restart_loses_no_confirmed_message() {
            let mut server: PrivateServer = $private_server;
            cluster::database_restart(&mut server, "session", false).await;
        }

        #[tokio::test]
        async fn lease_database_outage_past_the_lease_demotes_and_recovers_from_the_database() {
            let mut server: PrivateServer = $private_server;
            cluster::database_restart(&mut server, "lease", true).await;
        }
    };
}
