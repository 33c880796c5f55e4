// The reference point for the HTTP figures: a bare NestJS 12 route on Fastify (no guard, no
// envelope, no validation), measured on the same machine in the same run as our api.
// Usage: node -r ts-node/register bench/baseline-app.ts <port>
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';

@Controller()
class BareController {
  @Get('stat')
  stat(): { service: string; status: string } {
    return { service: 'ipm', status: 'active' };
  }
}

@Module({ controllers: [BareController] })
class BareModule {}

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const app = await NestFactory.create<NestFastifyApplication>(BareModule, new FastifyAdapter(), {
    logger: ['error', 'fatal'],
  });
  app.enableShutdownHooks();
  await app.listen(port, '127.0.0.1');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
