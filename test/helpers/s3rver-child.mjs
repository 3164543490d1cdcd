// Runs s3rver in its own process for test/helpers/s3.ts. It lives in a child because
// s3rver's ListObjectsV2 continuation tokens use a cipher that Node 17+ only offers with
// --openssl-legacy-provider, which must not leak into the test process itself; a child can
// also be killed mid-test to simulate an unreachable bucket.
//
// argv: <directory> <port (0 = any)>. Prints "listening <port>" once it serves.
import S3rver from 's3rver'

const [directory, port] = process.argv.slice(2)
const server = new S3rver({ address: '127.0.0.1', port: Number(port ?? 0), directory, silent: true })
const { port: bound } = await server.run()
process.stdout.write(`listening ${bound}\n`)
const stop = () => server.close().finally(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
