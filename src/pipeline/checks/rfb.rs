//! A screenshot of a desktop datalab, taken the way noVNC sees the desktop: through websockify, as
//! an RFB 3.8 client without authentication (`x_base`'s VNC server has none: only the platform's
//! proxy reaches it), one full-screen update in raw encoding, written as a PNG. Nothing in the
//! image is needed for it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// The whole exchange, handshake to the last pixel.
const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(20);
/// Larger displays are refused rather than read into memory (8K is 7680x4320).
const LARGEST_SIDE: u16 = 8192;

const SECURITY_NONE: u8 = 1;
const ENCODING_RAW: i32 = 0;

/// A screenshot as PNG bytes, with the display's size.
#[derive(Debug, Clone)]
pub struct Screenshot {
    pub png: Vec<u8>,
    pub width: u16,
    pub height: u16,
}

/// The desktop behind the websockify endpoint `url` (`ws://host:port/websockify`).
pub async fn screenshot(url: &str) -> Result<Screenshot, String> {
    tokio::time::timeout(SCREENSHOT_TIMEOUT, take(url))
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "the VNC server sent no full screen within {} s",
                SCREENSHOT_TIMEOUT.as_secs()
            ))
        })
}

async fn take(url: &str) -> Result<Screenshot, String> {
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|error| format!("cannot reach websockify at {url}: {error}"))?;
    let mut connection = Connection {
        socket,
        received: Vec::new(),
        read: 0,
    };
    let (width, height) = connection.handshake().await?;
    let pixels = connection.framebuffer(width, height).await?;
    let _ = connection.socket.close(None).await;
    Ok(Screenshot {
        png: encode_png(width, height, &pixels)?,
        width,
        height,
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The RFB byte stream over websocket messages.
struct Connection {
    socket: Socket,
    received: Vec<u8>,
    read: usize,
}

impl Connection {
    async fn bytes(&mut self, count: usize) -> Result<Vec<u8>, String> {
        while self.received.len() - self.read < count {
            match self.socket.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    self.received.drain(..self.read);
                    self.read = 0;
                    self.received.extend_from_slice(&bytes);
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err("websockify closed the connection".to_owned());
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.to_string()),
            }
        }
        let bytes = self.received[self.read..self.read + count].to_vec();
        self.read += count;
        Ok(bytes)
    }

    async fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1).await?[0])
    }

    async fn u16(&mut self) -> Result<u16, String> {
        let bytes = self.bytes(2).await?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    async fn u32(&mut self) -> Result<u32, String> {
        let bytes = self.bytes(4).await?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A length-prefixed string (a reason or the desktop's name), at most 64 KiB of it kept.
    async fn text(&mut self) -> Result<String, String> {
        let length = self.u32().await? as usize;
        let bytes = self.bytes(length.min(1 << 16)).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        self.socket
            .send(Message::Binary(bytes.into()))
            .await
            .map_err(|error| error.to_string())
    }

    /// Version, security (none), initialisation; the display's size. Pixels are then asked for
    /// as 32-bit little-endian true colour, red in bits 16..24, in raw encoding.
    async fn handshake(&mut self) -> Result<(u16, u16), String> {
        let version = self.bytes(12).await?;
        if !version.starts_with(b"RFB 003.") {
            return Err(format!(
                "the first bytes are not an RFB banner: {:?}",
                String::from_utf8_lossy(&version)
            ));
        }
        self.send(b"RFB 003.008\n".to_vec()).await?;
        let count = self.u8().await?;
        if count == 0 {
            let reason = self.text().await?;
            return Err(format!("the VNC server refused the connection: {reason}"));
        }
        let offered = self.bytes(usize::from(count)).await?;
        if !offered.contains(&SECURITY_NONE) {
            return Err(format!(
                "the VNC server asks for authentication (security types {offered:?}); x_base's \
                 has none"
            ));
        }
        self.send(vec![SECURITY_NONE]).await?;
        if self.u32().await? != 0 {
            let reason = self.text().await?;
            return Err(format!("the VNC server refused the connection: {reason}"));
        }
        // ClientInit: share the desktop with the datalab's other viewers.
        self.send(vec![1]).await?;
        let width = self.u16().await?;
        let height = self.u16().await?;
        self.bytes(16).await?;
        self.text().await?;
        if width == 0 || height == 0 || width > LARGEST_SIDE || height > LARGEST_SIDE {
            return Err(format!(
                "the display's size {width}x{height} is not readable"
            ));
        }
        let mut set_pixel_format = vec![0, 0, 0, 0];
        set_pixel_format.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]);
        set_pixel_format.extend_from_slice(&[0, 0, 0]);
        self.send(set_pixel_format).await?;
        let mut set_encodings = vec![2, 0, 0, 1];
        set_encodings.extend_from_slice(&ENCODING_RAW.to_be_bytes());
        self.send(set_encodings).await?;
        Ok((width, height))
    }

    /// The whole screen as RGB bytes, from one non-incremental update.
    async fn framebuffer(&mut self, width: u16, height: u16) -> Result<Vec<u8>, String> {
        let mut request = vec![3, 0, 0, 0, 0, 0];
        request.extend_from_slice(&width.to_be_bytes());
        request.extend_from_slice(&height.to_be_bytes());
        self.send(request).await?;
        let (width, height) = (usize::from(width), usize::from(height));
        let mut rgb = vec![0; width * height * 3];
        loop {
            match self.u8().await? {
                0 => {
                    self.bytes(1).await?;
                    let rectangles = self.u16().await?;
                    for _ in 0..rectangles {
                        self.rectangle(&mut rgb, width, height).await?;
                    }
                    return Ok(rgb);
                }
                1 => {
                    self.bytes(3).await?;
                    let colours = self.u16().await?;
                    self.bytes(usize::from(colours) * 6).await?;
                }
                2 => {}
                3 => {
                    self.bytes(3).await?;
                    self.text().await?;
                }
                other => return Err(format!("the VNC server sent an unknown message {other}")),
            }
        }
    }

    async fn rectangle(
        &mut self,
        rgb: &mut [u8],
        width: usize,
        height: usize,
    ) -> Result<(), String> {
        let x = usize::from(self.u16().await?);
        let y = usize::from(self.u16().await?);
        let columns = usize::from(self.u16().await?);
        let rows = usize::from(self.u16().await?);
        let encoding = i32::from_be_bytes(self.bytes(4).await?.try_into().expect("4 bytes"));
        if encoding != ENCODING_RAW {
            return Err(format!(
                "the VNC server sent encoding {encoding}, though only raw was asked for"
            ));
        }
        if x + columns > width || y + rows > height {
            return Err(format!(
                "the VNC server sent a rectangle {columns}x{rows} at {x},{y} outside the \
                 {width}x{height} display"
            ));
        }
        for row in 0..rows {
            let pixels = self.bytes(columns * 4).await?;
            let start = ((y + row) * width + x) * 3;
            for (target, pixel) in rgb[start..start + columns * 3]
                .chunks_exact_mut(3)
                .zip(pixels.chunks_exact(4))
            {
                target.copy_from_slice(&[pixel[2], pixel[1], pixel[0]]);
            }
        }
        Ok(())
    }
}

fn encode_png(width: u16, height: u16, rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, u32::from(width), u32::from(height));
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .map_err(|error| format!("cannot write the PNG: {error}"))?;
    writer
        .write_image_data(rgb)
        .map_err(|error| format!("cannot write the PNG: {error}"))?;
    writer
        .finish()
        .map_err(|error| format!("cannot write the PNG: {error}"))?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_holds_the_pixels_as_read() {
        let rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
        let png = encode_png(2, 2, &rgb).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((frame.width, frame.height), (2, 2));
        assert_eq!(&pixels[..frame.buffer_size()], &rgb);
    }
}
