# Build with cargo, run on a slim Debian image.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN cargo build --release --locked --bin baton

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/baton --create-home baton
COPY --from=build /src/target/release/baton /usr/local/bin/baton
USER baton
WORKDIR /var/lib/baton
# Inside the container listen on every interface.
ENV BATON_STOMP_LISTEN=0.0.0.0:61613 \
    BATON_ADMIN_LISTEN=0.0.0.0:8161 \
    BATON_DATABASE_URL=sqlite:/var/lib/baton/data/baton.db
EXPOSE 61613 8161
VOLUME ["/var/lib/baton/data"]
ENTRYPOINT ["baton"]
CMD ["serve"]
