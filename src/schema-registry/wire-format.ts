/**
 * Confluent's wire format, which every Schema Registry serializer and converter writes (Confluent's,
 * Apicurio's in its Confluent mode, Karapace's): one magic byte 0, the writer schema's id as a
 * 4-byte big-endian integer, then the encoded value (Avro binary, or JSON text for JSON Schema).
 */
export const WIRE_MAGIC_BYTE = 0;
/** Magic byte and schema id: the bytes before the encoded value. */
export const WIRE_HEADER_BYTES = 5;

export type FrameRead = { ok: true; schemaId: number; body: Buffer } | { ok: false; reason: string };

/** The schema id and the encoded value of a framed message, or why the bytes are not a frame. */
export function readFrame(value: Buffer): FrameRead {
  if (value.length < WIRE_HEADER_BYTES) {
    return { ok: false, reason: `message is ${value.length} bytes, shorter than a Schema Registry frame (${WIRE_HEADER_BYTES} bytes of header)` };
  }
  if (value[0] !== WIRE_MAGIC_BYTE) {
    return { ok: false, reason: `message does not start with the Schema Registry magic byte 0 (found ${value[0]})` };
  }
  return { ok: true, schemaId: value.readUInt32BE(1), body: value.subarray(WIRE_HEADER_BYTES) };
}

/** The framed form of `body` under `schemaId`, as a producer writes it. */
export function frame(schemaId: number, body: Buffer): Buffer {
  const header = Buffer.alloc(WIRE_HEADER_BYTES);
  header[0] = WIRE_MAGIC_BYTE;
  header.writeUInt32BE(schemaId, 1);
  return Buffer.concat([header, body]);
}
