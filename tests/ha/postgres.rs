//! Master/slave on a shared PostgreSQL database (127.0.0.1:5432, user
//! postgres, trust; a fresh database per test): session mode (advisory lock,
//! the default) and lease mode, failover on kill -9 and SIGTERM, a silent
//! network partition between the master and the database (through a test
//! proxy) with fencing of the commit caught in it, and a crash restart of a
//! private PostgreSQL server under a serving master. The tests are those of
//! shared_database.rs.

shared_database_tests!(
    Db::postgres(),
    PrivateServer::postgres().expect("private PostgreSQL server")
);
