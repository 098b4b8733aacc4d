//! Byte-level protocol helpers shared by the echo application, the load generator and the
//! built-in sidecar: connecting and listening on either transport, HTTP/1.1 messages framed by
//! `content-length`, and the gRPC echo message (a length-prefixed protobuf `bytes` field 1).

use std::io;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::Endpoint;

/// The gRPC method the echo application serves.
pub(crate) const GRPC_PATH: &str = "/meshinsight.Echo/Echo";
/// The request header that names which of a deployed service's timelines a request is for
/// (`validate`, a service called by several calls).
pub(crate) const ROUTE_HEADER: &str = "x-meshinsight-route";
/// Largest HTTP head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Anything a connection can be.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
/// A connection of either transport.
pub(crate) type BoxIo = Box<dyn Io>;

/// A connected stream of either transport, kept concrete for socket options.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn boxed(self) -> BoxIo {
        match self {
            Stream::Tcp(s) => Box::new(s),
            Stream::Unix(s) => Box::new(s),
        }
    }
}

/// Connects to an endpoint (TCP with `TCP_NODELAY`).
pub(crate) async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(Stream::Tcp(s))
        }
        Endpoint::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path).await?)),
    }
}

/// A listening socket of either transport.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Binds (port 0 picks a free port; a stale socket file is replaced) and returns the
    /// address actually bound.
    pub(crate) async fn bind(endpoint: &Endpoint) -> io::Result<(Listener, Endpoint)> {
        match endpoint {
            Endpoint::Tcp(addr) => {
                let l = TcpListener::bind(addr).await?;
                let bound = l.local_addr()?;
                Ok((Listener::Tcp(l), Endpoint::Tcp(bound)))
            }
            Endpoint::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let l = UnixListener::bind(path)?;
                Ok((Listener::Unix(l), endpoint.clone()))
            }
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l) => Ok(Stream::Unix(l.accept().await?.0)),
        }
    }
}

/// Which side of HTTP/1.1 is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HttpKind {
    Request,
    Response,
}

/// One whole HTTP/1.1 message.
#[derive(Debug)]
pub(crate) struct HttpMessage {
    /// Head and body, as received.
    pub(crate) bytes: Bytes,
    /// Length of the head (through the blank line).
    pub(crate) head_len: usize,
    /// The status code of a response.
    pub(crate) status: Option<u16>,
    /// The [`ROUTE_HEADER`] of a request, when it has one.
    pub(crate) route: Option<u32>,
}

impl HttpMessage {
    pub(crate) fn body(&self) -> &[u8] {
        &self.bytes[self.head_len..]
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// A parsed head: its length, the body's length, the status of a response, the route.
struct Head {
    len: usize,
    body: usize,
    status: Option<u16>,
    route: Option<u32>,
}

/// Parses a head if complete.
fn parse_head(buf: &[u8], kind: HttpKind) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let (len, status, headers) = match kind {
        HttpKind::Request => {
            let mut req = httparse::Request::new(&mut headers);
            match req
                .parse(buf)
                .map_err(|e| invalid(format!("bad http request: {e}")))?
            {
                httparse::Status::Complete(n) => (n, None, req.headers),
                httparse::Status::Partial => return Ok(None),
            }
        }
        HttpKind::Response => {
            let mut resp = httparse::Response::new(&mut headers);
            match resp
                .parse(buf)
                .map_err(|e| invalid(format!("bad http response: {e}")))?
            {
                httparse::Status::Complete(n) => (n, resp.code, resp.headers),
                httparse::Status::Partial => return Ok(None),
            }
        }
    };
    let mut body = 0;
    let mut route = None;
    for h in headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            body = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("bad content-length"))?;
        } else if h.name.eq_ignore_ascii_case(ROUTE_HEADER) {
            route = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(invalid("chunked http bodies are not supported"));
        }
    }
    Ok(Some(Head {
        len,
        body,
        status,
        route,
    }))
}

/// Reads one HTTP/1.1 message; `None` on a clean end of stream between messages.
pub(crate) async fn read_http<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    buf: &mut BytesMut,
    kind: HttpKind,
) -> io::Result<Option<HttpMessage>> {
    loop {
        if !buf.is_empty()
            && let Some(head) = parse_head(buf, kind)?
        {
            let total = head.len + head.body;
            buf.reserve(total.saturating_sub(buf.len()));
            while buf.len() < total {
                if reader.read_buf(buf).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            return Ok(Some(HttpMessage {
                bytes: buf.split_to(total).freeze(),
                head_len: head.len,
                status: head.status,
                route: head.route,
            }));
        }
        if buf.len() > MAX_HEAD {
            return Err(invalid("http head too long"));
        }
        buf.reserve(4096);
        if reader.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
    }
}

/// A POST of `body` to the echo application (or a deployed service, with its `route`).
pub(crate) fn http_request(body: &[u8], route: Option<u32>) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 160);
    v.extend_from_slice(b"POST /echo HTTP/1.1\r\nhost: echo\r\n");
    if let Some(route) = route {
        v.extend_from_slice(format!("{ROUTE_HEADER}: {route}\r\n").as_bytes());
    }
    v.extend_from_slice(b"content-type: application/octet-stream\r\ncontent-length: ");
    v.extend_from_slice(body.len().to_string().as_bytes());
    v.extend_from_slice(b"\r\n\r\n");
    v.extend_from_slice(body);
    v
}

/// A 200 response carrying `body`.
pub(crate) fn http_response(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 128);
    v.extend_from_slice(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ",
    );
    v.extend_from_slice(body.len().to_string().as_bytes());
    v.extend_from_slice(b"\r\n\r\n");
    v.extend_from_slice(body);
    v
}

/// The gRPC message: 5-byte prefix (uncompressed, length) and protobuf `bytes payload = 1`.
pub(crate) fn grpc_encode(payload: &[u8]) -> Bytes {
    let mut msg = BytesMut::with_capacity(payload.len() + 16);
    msg.put_u8(0x0a);
    let mut n = payload.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            msg.put_u8(byte);
            break;
        }
        msg.put_u8(byte | 0x80);
    }
    msg.put_slice(payload);
    let mut out = BytesMut::with_capacity(msg.len() + 5);
    out.put_u8(0);
    out.put_u32(msg.len() as u32);
    out.put_slice(&msg);
    out.freeze()
}

/// Why a gRPC message is not an echo message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrpcDecodeError {
    /// Shorter than the 5-byte prefix.
    #[error("grpc message of {0} bytes is too short")]
    TooShort(usize),
    /// The compressed flag is set.
    #[error("compressed grpc messages are not supported")]
    Compressed,
    /// The length prefix disagrees with the message.
    #[error("grpc length prefix says {prefix} bytes, got {got}")]
    Length {
        /// What the prefix says.
        prefix: usize,
        /// What followed it.
        got: usize,
    },
    /// The message is not field 1 of type bytes.
    #[error("grpc message is not field 1 bytes")]
    NotField1,
    /// The field's length ends early.
    #[error("truncated varint")]
    TruncatedVarint,
    /// The field's length is longer than 35 bits.
    #[error("bad varint")]
    BadVarint,
    /// The field's length disagrees with the message.
    #[error("grpc field says {field} bytes, got {got}")]
    FieldLength {
        /// What the field's length says.
        field: usize,
        /// What followed it.
        got: usize,
    },
}

/// The payload of a gRPC echo message.
pub(crate) fn grpc_decode(body: &[u8]) -> Result<&[u8], GrpcDecodeError> {
    if body.len() < 5 {
        return Err(GrpcDecodeError::TooShort(body.len()));
    }
    if body[0] != 0 {
        return Err(GrpcDecodeError::Compressed);
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let msg = &body[5..];
    if msg.len() != len {
        return Err(GrpcDecodeError::Length {
            prefix: len,
            got: msg.len(),
        });
    }
    if msg.is_empty() {
        return Ok(&[]);
    }
    if msg[0] != 0x0a {
        return Err(GrpcDecodeError::NotField1);
    }
    let (mut n, mut shift, mut i) = (0usize, 0, 1);
    loop {
        let b = *msg.get(i).ok_or(GrpcDecodeError::TruncatedVarint)?;
        n |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return Err(GrpcDecodeError::BadVarint);
        }
    }
    let payload = &msg[i..];
    if payload.len() != n {
        return Err(GrpcDecodeError::FieldLength {
            field: n,
            got: payload.len(),
        });
    }
    Ok(payload)
}

/// The payload of request number `seq`: a recognisable pattern with the number in front.
pub(crate) fn payload(size: usize, seq: u64) -> Vec<u8> {
    let mut p: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let tag = seq.to_le_bytes();
    let n = tag.len().min(size);
    p[..n].copy_from_slice(&tag[..n]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_round_trip() {
        for size in [0, 1, 100, 127, 128, 4000, 70000] {
            let p = payload(size, 42);
            let framed = grpc_encode(&p);
            assert_eq!(grpc_decode(&framed).unwrap(), &p[..]);
        }
        assert!(grpc_decode(&[0, 0, 0, 0, 9, 1]).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn http_messages_are_framed_by_content_length() {
        let mut two = http_request(b"hello", None);
        two.extend_from_slice(&http_request(b"", Some(7)));
        let mut reader = &two[..];
        let mut buf = BytesMut::new();
        let first = read_http(&mut reader, &mut buf, HttpKind::Request)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.body(), b"hello");
        let second = read_http(&mut reader, &mut buf, HttpKind::Request)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((first.route, second.route), (None, Some(7)));
        assert_eq!(second.body(), b"");
        assert!(
            read_http(&mut reader, &mut buf, HttpKind::Request)
                .await
                .unwrap()
                .is_none()
        );

        let resp = http_response(b"xyz");
        let mut reader = &resp[..];
        let m = read_http(&mut reader, &mut buf, HttpKind::Response)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((m.status, m.body()), (Some(200), &b"xyz"[..]));
    }
}
