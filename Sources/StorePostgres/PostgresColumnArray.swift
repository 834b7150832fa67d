import NIOCore
import PostgresNIO

/// One column of a batch as a PostgreSQL array in the binary format, `NULL` for an absent value: what `unnest` turns
/// back into the batch's rows. postgres-nio encodes arrays of non-optional values only.
///
/// The format (`array_recv`): dimensions (1), whether any element is NULL, the element type's oid, then per
/// dimension its length and lower bound (1), then each element as its byte count (-1 for NULL) and its bytes.
struct PostgresColumnArray<Element: PostgresArrayEncodable & PostgresNonThrowingEncodable>:
    PostgresNonThrowingEncodable
{
    let values: [Element?]

    init(_ values: [Element?]) { self.values = values }

    static var psqlType: PostgresDataType { Element.psqlArrayType }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeInteger(1, as: Int32.self)
        buffer.writeInteger(values.contains { $0 == nil } ? 1 : 0, as: Int32.self)
        buffer.writeInteger(Element.psqlType.rawValue)
        buffer.writeInteger(Int32(truncatingIfNeeded: values.count))
        buffer.writeInteger(1, as: Int32.self)
        for value in values {
            guard let value else {
                buffer.writeInteger(-1, as: Int32.self)
                continue
            }
            let lengthIndex = buffer.writerIndex
            buffer.writeInteger(0, as: Int32.self)
            value.encode(into: &buffer, context: context)
            buffer.setInteger(Int32(truncatingIfNeeded: buffer.writerIndex - lengthIndex - 4), at: lengthIndex)
        }
    }
}
