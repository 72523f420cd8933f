//! Master/slave on a shared MariaDB database (127.0.0.1:3306, root,
//! no password; a fresh database per test): session mode (GET_LOCK,
//! the default) and lease mode, failover on kill -9 and SIGTERM, a silent
//! network partition between the master and the database (through a test
//! proxy) with fencing of the commit caught in it, and a crash restart of a
//! private MariaDB server under a serving master. The tests are those of
//! shared_database.rs.

shared_database_tests!(
    Db::mariadb(),
    PrivateServer::mariadb().expect("private MariaDB server")
);
